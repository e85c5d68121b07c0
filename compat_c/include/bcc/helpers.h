/* compat_c: bcc's BPF C dialect as plain C.
 *
 * Every table is a BTF-defined map (a global named __bcc_map_NAME in ".maps",
 * renamed to NAME after compilation) plus a static const "ops" object named
 * NAME whose members are pointers to always-inline functions, so that
 * `NAME.lookup(&k)` is ordinary C: clang type-checks it and -O2 folds the call
 * into the helper call.  A few semantics C cannot express are finished on the
 * LLVM IR by compat_c.irpass (lookup_or_init's early return, USDT argument
 * readers, pt_regs parameters, implicit kernel memory reads).
 */
#ifndef __BCC_HELPERS_H
#define __BCC_HELPERS_H

#ifndef SEC
#define SEC(name) __attribute__((section(name), used))
#endif
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define BCC_SEC(name) SEC(name)
#define __BCC_STR1(x) #x
#define __BCC_STR(x) __BCC_STR1(x)
#define __BCC_CAT1(a, b) a##b
#define __BCC_CAT(a, b) __BCC_CAT1(a, b)
#define __BCC_NARG(...) __BCC_NARG1(__VA_ARGS__, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define __BCC_NARG1(_1, _2, _3, _4, _5, _6, _7, _8, _9, N, ...) N
#define __BCC_OVERLOAD(name, ...) __BCC_CAT(name, __BCC_NARG(__VA_ARGS__))(__VA_ARGS__)

/* Markers finished by compat_c.irpass. */
extern void __bcc_return_zero(void) __attribute__((noreturn));
extern int __bcc_usdt_readarg(int n, void *ctx, void *dst, int size);
#define bpf_usdt_readarg(n, ctx, addr) __bcc_usdt_readarg(n, ctx, addr, sizeof(*(addr)))
#define bpf_usdt_readarg_p(n, ctx, buf, len) __bcc_usdt_readarg(-(n), ctx, buf, len)

#define lock_xadd(ptr, val) ((void)__sync_fetch_and_add(ptr, val))

/* ------------------------------------------------------------ map definitions */
#define __BCC_MAPDEF(_mtype, _key, _leaf, _name, _max, _flags)                      \
  struct {                                                                         \
    int (*type)[_mtype];                                                           \
    _key *key;                                                                     \
    _leaf *value;                                                                  \
    int (*max_entries)[_max];                                                      \
    int (*map_flags)[_flags];                                                      \
  } __bcc_map_##_name SEC(".maps");
#define __BCC_MAPDEF_NOKEY(_mtype, _leaf, _name, _max, _flags)                      \
  struct {                                                                         \
    int (*type)[_mtype];                                                           \
    _leaf *value;                                                                  \
    int (*max_entries)[_max];                                                      \
    int (*map_flags)[_flags];                                                      \
  } __bcc_map_##_name SEC(".maps");
#define __BCC_MAPDEF_SIZES(_mtype, _name, _max, _flags)                             \
  struct {                                                                         \
    int (*type)[_mtype];                                                           \
    int (*max_entries)[_max];                                                      \
    int (*map_flags)[_flags];                                                      \
  } __bcc_map_##_name SEC(".maps");
#define __BCC_MAP(_name) ((void *)&__bcc_map_##_name)

/* Method bodies shared by every keyed table. */
#define __BCC_KEYED_FUNCS(_name, _key, _leaf)                                        \
  static __always_inline _leaf *__bcc_##_name##_lookup(_key *k) {                  \
    return (_leaf *)bpf_map_lookup_elem(__BCC_MAP(_name), k); }                    \
  static __always_inline int __bcc_##_name##_update(_key *k, _leaf *v) {           \
    return bpf_map_update_elem(__BCC_MAP(_name), k, v, BPF_ANY); }                 \
  static __always_inline int __bcc_##_name##_insert(_key *k, _leaf *v) {           \
    return bpf_map_update_elem(__BCC_MAP(_name), k, v, BPF_NOEXIST); }             \
  static __always_inline int __bcc_##_name##_delete(_key *k) {                     \
    return bpf_map_delete_elem(__BCC_MAP(_name), k); }                             \
  static __always_inline _leaf *__bcc_##_name##_lookup_or_try_init(_key *k, _leaf *z) { \
    _leaf *v = (_leaf *)bpf_map_lookup_elem(__BCC_MAP(_name), k);                  \
    if (v) return v;                                                               \
    bpf_map_update_elem(__BCC_MAP(_name), k, z, BPF_NOEXIST);                      \
    return (_leaf *)bpf_map_lookup_elem(__BCC_MAP(_name), k); }                    \
  static __always_inline _leaf *__bcc_##_name##_lookup_or_init(_key *k, _leaf *z) { \
    _leaf *v = __bcc_##_name##_lookup_or_try_init(k, z);                            \
    if (!v) __bcc_return_zero();                                                    \
    return v; }

/* increment() only makes sense for a numeric leaf; bcc instantiates a method
 * only where it is used, so for any other leaf the method must still compile
 * and only fail when called: it then calls the marker __bcc_bad_increment_NAME,
 * which compat_c.irpass reports at the caller's line.  The numeric type
 * classes of __builtin_classify_type: integer, char, enum, bool, _BitInt. */
#define __BCC_NUMERIC(_t) ((1ULL << __builtin_classify_type(*(_t *)0)) & 0x4001EULL)
#define __BCC_INCREMENT_FUNCS(_name, _key, _leaf, _insert)                           \
  typedef __typeof__(__builtin_choose_expr(__BCC_NUMERIC(_leaf), *(_leaf *)0, (u64)0)) \
    __bcc_##_name##_num_t;                                                         \
  extern void __bcc_bad_increment_##_name(void);                                   \
  static __always_inline void __bcc_##_name##_increment(_key k, __bcc_##_name##_num_t n) { \
    if (!__BCC_NUMERIC(_leaf)) { __bcc_bad_increment_##_name(); return; }           \
    __bcc_##_name##_num_t *v = bpf_map_lookup_elem(__BCC_MAP(_name), &k);          \
    if (v) { *v += n; return; }                                                    \
    if (_insert) bpf_map_update_elem(__BCC_MAP(_name), &k, &n, BPF_NOEXIST); }     \
  static __always_inline void __bcc_##_name##_atomic_increment(_key k, __bcc_##_name##_num_t n) { \
    if (!__BCC_NUMERIC(_leaf)) { __bcc_bad_increment_##_name(); return; }           \
    __bcc_##_name##_num_t *v = bpf_map_lookup_elem(__BCC_MAP(_name), &k);          \
    if (v) { __sync_fetch_and_add(v, n); return; }                                 \
    if (_insert) bpf_map_update_elem(__BCC_MAP(_name), &k, &n, BPF_NOEXIST); }

/* The optional second argument of increment()/atomic_increment() (default 1). */
#define __BCC_PICK3(a, b, c, ...) c
#define increment(...) __BCC_PICK3(__VA_ARGS__, __bcc_increment(__VA_ARGS__), __bcc_increment(__VA_ARGS__, 1), ~)
#define atomic_increment(...) __BCC_PICK3(__VA_ARGS__, __bcc_atomic_increment(__VA_ARGS__), __bcc_atomic_increment(__VA_ARGS__, 1), ~)

#define __BCC_KEYED_MEMBERS(_name, _key, _leaf)                                      \
  _key key; _leaf leaf;                                                            \
  _leaf *(*lookup)(_key *);                                                        \
  int (*update)(_key *, _leaf *);                                                  \
  int (*insert)(_key *, _leaf *);                                                  \
  int (*delete)(_key *);                                                           \
  _leaf *(*lookup_or_try_init)(_key *, _leaf *);                                   \
  _leaf *(*lookup_or_init)(_key *, _leaf *);                                       \
  void (*__bcc_increment)(_key, __bcc_##_name##_num_t);                            \
  void (*__bcc_atomic_increment)(_key, __bcc_##_name##_num_t);
#define __BCC_KEYED_INIT(_name)                                                     \
  .lookup = __bcc_##_name##_lookup, .update = __bcc_##_name##_update,              \
  .insert = __bcc_##_name##_insert, .delete = __bcc_##_name##_delete,              \
  .lookup_or_try_init = __bcc_##_name##_lookup_or_try_init,                        \
  .lookup_or_init = __bcc_##_name##_lookup_or_init,                                \
  .__bcc_increment = __bcc_##_name##_increment,                                    \
  .__bcc_atomic_increment = __bcc_##_name##_atomic_increment

/* A hash- or array-like table: map definition, method bodies and the ops object. */
#define __BCC_KEYED_TABLE(_mtype, _insert, _key, _leaf, _name, _max, _flags)          \
  __BCC_MAPDEF(_mtype, _key, _leaf, _name, _max, _flags)                            \
  __BCC_KEYED_FUNCS(_name, _key, _leaf)                                             \
  __BCC_INCREMENT_FUNCS(_name, _key, _leaf, _insert)                                \
  struct __bcc_ops_##_name { __BCC_KEYED_MEMBERS(_name, _key, _leaf) };             \
  static const struct __bcc_ops_##_name _name = { __BCC_KEYED_INIT(_name) };

/* BPF_TABLE("kind", key, leaf, name, max[, flags]): the kind is a string as in bcc. */
#define __BCC_KIND_hash BPF_MAP_TYPE_HASH, 1
#define __BCC_KIND_array BPF_MAP_TYPE_ARRAY, 0
#define __BCC_KIND_percpu_hash BPF_MAP_TYPE_PERCPU_HASH, 1
#define __BCC_KIND_percpu_array BPF_MAP_TYPE_PERCPU_ARRAY, 0
#define __BCC_KIND_lru_hash BPF_MAP_TYPE_LRU_HASH, 1
#define __BCC_KIND_lru_percpu_hash BPF_MAP_TYPE_LRU_PERCPU_HASH, 1
#define __BCC_KIND_lpm_trie BPF_MAP_TYPE_LPM_TRIE, 1
#define __BCC_KIND_cgroup_array BPF_MAP_TYPE_CGROUP_ARRAY, 0
#define __BCC_KIND_devmap BPF_MAP_TYPE_DEVMAP, 0
#define __BCC_KIND_cpumap BPF_MAP_TYPE_CPUMAP, 0
#define __BCC_KIND_prog BPF_MAP_TYPE_PROG_ARRAY, 0
#define __BCC_KIND_stacktrace BPF_MAP_TYPE_STACK_TRACE, 0
/* "extern": the map another BPF object of this process made public; type 0 (UNSPEC)
 * tells compat_c to use that map.  increment() may insert: harmless on arrays. */
#define __BCC_KIND_extern 0, 1
/* The kind argument is a string literal ("hash"); __bcc_kind_* are declared by
 * BPF_TABLE's expansion through the _BCC_TABLE_<word> helpers below. */
#define BPF_F_TABLE(_kind, _key, _leaf, _name, _max, _flags)                         \
  __BCC_TABLE_KIND(_kind, _key, _leaf, _name, _max, _flags)
#define BPF_TABLE(_kind, _key, _leaf, _name, _max) BPF_F_TABLE(_kind, _key, _leaf, _name, _max, 0)
/* bcc spells the kind as a C string; the table-kind selector is resolved by
 * compat_c.frontend, which rewrites BPF_TABLE("x", ...) into BPF_TABLE(x, ...)
 * before compiling: the macro layer cannot switch on a string. */
#define __BCC_TABLE_KIND(_kind, _key, _leaf, _name, _max, _flags)                    \
  __BCC_KEYED_TABLE2(__BCC_KIND_##_kind, _key, _leaf, _name, _max, _flags)
#define __BCC_KEYED_TABLE2(...) __BCC_KEYED_TABLE3(__VA_ARGS__)
#define __BCC_KEYED_TABLE3(_mtype, _insert, _key, _leaf, _name, _max, _flags)         \
  __BCC_KEYED_TABLE(_mtype, _insert, _key, _leaf, _name, _max, _flags)

/* Pinned, public and extern tables: the extra facts ride in unused globals that
 * compat_c.irpass reads into the metadata and removes. */
#define __BCC_NOTE(_what, _name, _text)                                              \
  const char __bcc_note_##_what##__##_name[] SEC(".bcc.notes") = _text;
#define BPF_TABLE_PINNED(_kind, _key, _leaf, _name, _max, _pinned, ...)              \
  BPF_F_TABLE(_kind, _key, _leaf, _name, _max, __BCC_FLAGS_OPT(__VA_ARGS__))        \
  __BCC_NOTE(pinned, _name, _pinned)
#define __BCC_FLAGS_OPT(...) (0 __VA_OPT__(| __VA_ARGS__))
#define BPF_TABLE_PUBLIC(_kind, _key, _leaf, _name, _max)                            \
  BPF_TABLE(_kind, _key, _leaf, _name, _max) __BCC_NOTE(public, _name, "")
#define BPF_TABLE_SHARED(_kind, _key, _leaf, _name, _max)                            \
  BPF_TABLE(_kind, _key, _leaf, _name, _max) __BCC_NOTE(shared, _name, "")

/* ------------------------------------------------------------ the BPF_* macros */
#define BPF_HASH(...) __BCC_OVERLOAD(__BPF_HASH, __VA_ARGS__)
#define __BPF_HASH1(n) BPF_TABLE(hash, u64, u64, n, 10240)
#define __BPF_HASH2(n, k) BPF_TABLE(hash, k, u64, n, 10240)
#define __BPF_HASH3(n, k, v) BPF_TABLE(hash, k, v, n, 10240)
#define __BPF_HASH4(n, k, v, s) BPF_TABLE(hash, k, v, n, s)
#define BPF_PERCPU_HASH(...) __BCC_OVERLOAD(__BPF_PERCPU_HASH, __VA_ARGS__)
#define __BPF_PERCPU_HASH1(n) BPF_TABLE(percpu_hash, u64, u64, n, 10240)
#define __BPF_PERCPU_HASH2(n, k) BPF_TABLE(percpu_hash, k, u64, n, 10240)
#define __BPF_PERCPU_HASH3(n, k, v) BPF_TABLE(percpu_hash, k, v, n, 10240)
#define __BPF_PERCPU_HASH4(n, k, v, s) BPF_TABLE(percpu_hash, k, v, n, s)
#define BPF_ARRAY(...) __BCC_OVERLOAD(__BPF_ARRAY, __VA_ARGS__)
#define __BPF_ARRAY1(n) BPF_TABLE(array, int, u64, n, 10240)
#define __BPF_ARRAY2(n, v) BPF_TABLE(array, int, v, n, 10240)
#define __BPF_ARRAY3(n, v, s) BPF_TABLE(array, int, v, n, s)
#define BPF_PERCPU_ARRAY(...) __BCC_OVERLOAD(__BPF_PERCPU_ARRAY, __VA_ARGS__)
#define __BPF_PERCPU_ARRAY1(n) BPF_TABLE(percpu_array, int, u64, n, 10240)
#define __BPF_PERCPU_ARRAY2(n, v) BPF_TABLE(percpu_array, int, v, n, 10240)
#define __BPF_PERCPU_ARRAY3(n, v, s) BPF_TABLE(percpu_array, int, v, n, s)
#define BPF_HISTOGRAM(...) __BCC_OVERLOAD(__BPF_HISTOGRAM, __VA_ARGS__)
#define __BPF_HISTOGRAM1(n) BPF_TABLE(array, int, u64, n, 64)
#define __BPF_HISTOGRAM2(n, k) BPF_TABLE(hash, k, u64, n, 64)
#define __BPF_HISTOGRAM3(n, k, s) BPF_TABLE(hash, k, u64, n, s)
#define BPF_LPM_TRIE(...) __BCC_OVERLOAD(__BPF_LPM_TRIE, __VA_ARGS__)
#define __BPF_LPM_TRIE1(n) BPF_F_TABLE(lpm_trie, u64, u64, n, 10240, BPF_F_NO_PREALLOC)
#define __BPF_LPM_TRIE2(n, k) BPF_F_TABLE(lpm_trie, k, u64, n, 10240, BPF_F_NO_PREALLOC)
#define __BPF_LPM_TRIE3(n, k, v) BPF_F_TABLE(lpm_trie, k, v, n, 10240, BPF_F_NO_PREALLOC)
#define __BPF_LPM_TRIE4(n, k, v, s) BPF_F_TABLE(lpm_trie, k, v, n, s, BPF_F_NO_PREALLOC)
#define BPF_CGROUP_ARRAY(n, s) BPF_TABLE(cgroup_array, int, u32, n, s)
#define BPF_DEVMAP(n, s) BPF_TABLE(devmap, int, int, n, s)
#define BPF_CPUMAP(n, s) BPF_TABLE(cpumap, u32, u32, n, s)

/* Perf and ring buffers. */
#define BPF_PERF_OUTPUT(_name)                                                       \
  __BCC_MAPDEF(BPF_MAP_TYPE_PERF_EVENT_ARRAY, int, u32, _name, __BCC_NR_CPUS, 0)     \
  static __always_inline int __bcc_##_name##_perf_submit(void *ctx, void *data, u32 size) { \
    return bpf_perf_event_output(ctx, __BCC_MAP(_name), BPF_F_CURRENT_CPU, data, size); } \
  static __always_inline int __bcc_##_name##_perf_submit_skb(void *ctx, u32 skb_len, void *data, u32 size) { \
    return bpf_perf_event_output(ctx, __BCC_MAP(_name), ((u64)skb_len << 32) | BPF_F_CURRENT_CPU, data, size); } \
  struct __bcc_ops_##_name { int key; u32 leaf;                                     \
    int (*perf_submit)(void *, void *, u32);                                       \
    int (*perf_submit_skb)(void *, u32, void *, u32); };                           \
  static const struct __bcc_ops_##_name _name = {                                  \
    .perf_submit = __bcc_##_name##_perf_submit, .perf_submit_skb = __bcc_##_name##_perf_submit_skb };
/* The "this CPU" index for perf_read/perf_counter_value; bcc lets -D override it. */
#ifndef CUR_CPU_IDENTIFIER
#define CUR_CPU_IDENTIFIER BPF_F_CURRENT_CPU
#endif
#define BPF_PERF_ARRAY(_name, _max)                                                  \
  __BCC_MAPDEF(BPF_MAP_TYPE_PERF_EVENT_ARRAY, int, u32, _name, _max, 0)             \
  static __always_inline u64 __bcc_##_name##_perf_read(u32 i) {                     \
    return bpf_perf_event_read(__BCC_MAP(_name), i); }                              \
  static __always_inline int __bcc_##_name##_perf_counter_value(u64 i, void *buf, u32 size) { \
    return bpf_perf_event_read_value(__BCC_MAP(_name), i, buf, size); }             \
  struct __bcc_ops_##_name { int key; u32 leaf; u64 (*perf_read)(u32);              \
    int (*perf_counter_value)(u64, void *, u32); };                                \
  static const struct __bcc_ops_##_name _name = {                                  \
    .perf_read = __bcc_##_name##_perf_read, .perf_counter_value = __bcc_##_name##_perf_counter_value };
#define BPF_RINGBUF_OUTPUT(_name, _pages)                                            \
  __BCC_MAPDEF_SIZES(BPF_MAP_TYPE_RINGBUF, _name, ((_pages) * __BCC_PAGE_SIZE), 0)  \
  static __always_inline int __bcc_##_name##_ringbuf_output(void *d, u64 size, u64 flags) { \
    return bpf_ringbuf_output(__BCC_MAP(_name), d, size, flags); }                  \
  static __always_inline void *__bcc_##_name##_ringbuf_reserve(u64 size) {          \
    return bpf_ringbuf_reserve(__BCC_MAP(_name), size, 0); }                        \
  static __always_inline void __bcc_##_name##_ringbuf_submit(void *d, u64 flags) { \
    bpf_ringbuf_submit(d, flags); }                                                 \
  static __always_inline void __bcc_##_name##_ringbuf_discard(void *d, u64 flags) { \
    bpf_ringbuf_discard(d, flags); }                                                \
  static __always_inline u64 __bcc_##_name##_ringbuf_query(u64 flags) {            \
    return bpf_ringbuf_query(__BCC_MAP(_name), flags); }                            \
  struct __bcc_ops_##_name {                                                       \
    int (*ringbuf_output)(void *, u64, u64); void *(*ringbuf_reserve)(u64);        \
    void (*ringbuf_submit)(void *, u64); void (*ringbuf_discard)(void *, u64);      \
    u64 (*ringbuf_query)(u64); };                                                  \
  static const struct __bcc_ops_##_name _name = {                                  \
    .ringbuf_output = __bcc_##_name##_ringbuf_output,                              \
    .ringbuf_reserve = __bcc_##_name##_ringbuf_reserve,                            \
    .ringbuf_submit = __bcc_##_name##_ringbuf_submit,                              \
    .ringbuf_discard = __bcc_##_name##_ringbuf_discard,                            \
    .ringbuf_query = __bcc_##_name##_ringbuf_query };

/* Stack traces. */
#define __BCC_STACK_TABLE(_name, _leaf, _max, _flags)                               \
  __BCC_MAPDEF(BPF_MAP_TYPE_STACK_TRACE, int, _leaf, _name, _max, _flags)          \
  static __always_inline int __bcc_##_name##_get_stackid(void *ctx, u64 flags) {    \
    return bpf_get_stackid(ctx, __BCC_MAP(_name), flags); }                         \
  struct __bcc_ops_##_name { int key; _leaf leaf; int (*get_stackid)(void *, u64); }; \
  static const struct __bcc_ops_##_name _name = { .get_stackid = __bcc_##_name##_get_stackid };
struct bpf_stacktrace { u64 ip[127]; };
struct bpf_stacktrace_buildid { struct bpf_stack_build_id trace[127]; };
#define BPF_STACK_TRACE(_name, _max) __BCC_STACK_TABLE(_name, struct bpf_stacktrace, _max, 0)
#define BPF_STACK_TRACE_BUILDID(_name, _max)                                         \
  __BCC_STACK_TABLE(_name, struct bpf_stacktrace_buildid, _max, BPF_F_STACK_BUILD_ID)

/* Program arrays (tail calls). */
#define BPF_PROG_ARRAY(_name, _max)                                                  \
  __BCC_MAPDEF(BPF_MAP_TYPE_PROG_ARRAY, u32, u32, _name, _max, 0)                   \
  static __always_inline void __bcc_##_name##_call(void *ctx, u32 i) {              \
    bpf_tail_call(ctx, __BCC_MAP(_name), i); }                                      \
  struct __bcc_ops_##_name { u32 key; u32 leaf; void (*call)(void *, u32); };       \
  static const struct __bcc_ops_##_name _name = { .call = __bcc_##_name##_call };

/* Redirect maps (XDP). */
#define __BCC_REDIRECT_TABLE(_mtype, _key, _leaf, _name, _max)                      \
  __BCC_MAPDEF(_mtype, _key, _leaf, _name, _max, 0)                                 \
  __BCC_KEYED_FUNCS(_name, _key, _leaf)                                             \
  static __always_inline long __bcc_##_name##_redirect_map(u32 i, u64 flags) {      \
    return bpf_redirect_map(__BCC_MAP(_name), i, flags); }                          \
  struct __bcc_ops_##_name { _key key; _leaf leaf; _leaf *(*lookup)(_key *);        \
    int (*update)(_key *, _leaf *); int (*delete)(_key *);                          \
    long (*redirect_map)(u32, u64); };                                             \
  static const struct __bcc_ops_##_name _name = { .lookup = __bcc_##_name##_lookup, \
    .update = __bcc_##_name##_update, .delete = __bcc_##_name##_delete,             \
    .redirect_map = __bcc_##_name##_redirect_map };
#undef BPF_DEVMAP
#undef BPF_CPUMAP
#define BPF_DEVMAP(_name, _max) __BCC_REDIRECT_TABLE(BPF_MAP_TYPE_DEVMAP, int, int, _name, _max)
#define BPF_CPUMAP(_name, _max) __BCC_REDIRECT_TABLE(BPF_MAP_TYPE_CPUMAP, u32, u32, _name, _max)
#define BPF_XSKMAP(_name, _max, ...) __BCC_REDIRECT_TABLE(BPF_MAP_TYPE_XSKMAP, u32, u32, _name, _max) \
  __VA_OPT__(__BCC_NOTE(pinned, _name, __VA_ARGS__))

/* Cgroup arrays. */
#undef BPF_CGROUP_ARRAY
#define BPF_CGROUP_ARRAY(_name, _max)                                                \
  __BCC_MAPDEF(BPF_MAP_TYPE_CGROUP_ARRAY, int, u32, _name, _max, 0)                 \
  static __always_inline long __bcc_##_name##_check_current_task(int i) {           \
    return bpf_current_task_under_cgroup(__BCC_MAP(_name), i); }                    \
  struct __bcc_ops_##_name { int key; u32 leaf; long (*check_current_task)(int); }; \
  static const struct __bcc_ops_##_name _name = {                                  \
    .check_current_task = __bcc_##_name##_check_current_task };

/* Queues and stacks. */
#define __BCC_QUEUE(_mtype, _name, _leaf, _max, _flags)                              \
  __BCC_MAPDEF_NOKEY(_mtype, _leaf, _name, _max, _flags)                            \
  static __always_inline int __bcc_##_name##_push(_leaf *v, u64 flags) {            \
    return bpf_map_push_elem(__BCC_MAP(_name), v, flags); }                         \
  static __always_inline int __bcc_##_name##_pop(_leaf *v) {                        \
    return bpf_map_pop_elem(__BCC_MAP(_name), v); }                                 \
  static __always_inline int __bcc_##_name##_peek(_leaf *v) {                       \
    return bpf_map_peek_elem(__BCC_MAP(_name), v); }                                \
  struct __bcc_ops_##_name { _leaf leaf; int (*push)(_leaf *, u64);                 \
    int (*pop)(_leaf *); int (*peek)(_leaf *); };                                  \
  static const struct __bcc_ops_##_name _name = { .push = __bcc_##_name##_push,    \
    .pop = __bcc_##_name##_pop, .peek = __bcc_##_name##_peek };
#define BPF_QUEUE(...) __BCC_OVERLOAD(__BPF_QUEUE, __VA_ARGS__)
#define __BPF_QUEUE3(n, v, s) __BCC_QUEUE(BPF_MAP_TYPE_QUEUE, n, v, s, 0)
#define __BPF_QUEUE4(n, v, s, f) __BCC_QUEUE(BPF_MAP_TYPE_QUEUE, n, v, s, f)
#define BPF_STACK(...) __BCC_OVERLOAD(__BPF_STACK, __VA_ARGS__)
#define __BPF_STACK3(n, v, s) __BCC_QUEUE(BPF_MAP_TYPE_STACK, n, v, s, 0)
#define __BPF_STACK4(n, v, s, f) __BCC_QUEUE(BPF_MAP_TYPE_STACK, n, v, s, f)

/* Maps of maps: the value is the inner map's id; the inner table's name is noted. */
#define BPF_ARRAY_OF_MAPS(_name, _inner, _max)                                       \
  __BCC_KEYED_TABLE(BPF_MAP_TYPE_ARRAY_OF_MAPS, 0, int, int, _name, _max, 0)        \
  __BCC_NOTE(inner, _name, _inner)
#define BPF_HASH_OF_MAPS(...) __BCC_OVERLOAD(__BPF_HASH_OF_MAPS, __VA_ARGS__)
#define __BPF_HASH_OF_MAPS3(n, i, s) __BPF_HASH_OF_MAPS4(n, int, i, s)
#define __BPF_HASH_OF_MAPS4(_name, _key, _inner, _max)                               \
  __BCC_KEYED_TABLE(BPF_MAP_TYPE_HASH_OF_MAPS, 0, _key, int, _name, _max, 0)        \
  __BCC_NOTE(inner, _name, _inner)

/* Socket maps. */
#define BPF_SOCKMAP(_name, _max)                                                     \
  __BCC_MAPDEF(BPF_MAP_TYPE_SOCKMAP, int, int, _name, _max, 0)                      \
  static __always_inline long __bcc_##_name##_sock_map_update(void *ctx, void *k, u64 f) { \
    return bpf_sock_map_update(ctx, __BCC_MAP(_name), k, f); }                      \
  static __always_inline long __bcc_##_name##_msg_redirect_map(void *ctx, u32 k, u64 f) { \
    return bpf_msg_redirect_map(ctx, __BCC_MAP(_name), k, f); }                     \
  static __always_inline long __bcc_##_name##_sk_redirect_map(void *ctx, u32 k, u64 f) { \
    return bpf_sk_redirect_map(ctx, __BCC_MAP(_name), k, f); }                      \
  struct __bcc_ops_##_name { int key; int leaf;                                    \
    long (*sock_map_update)(void *, void *, u64);                                  \
    long (*msg_redirect_map)(void *, u32, u64);                                    \
    long (*sk_redirect_map)(void *, u32, u64); };                                  \
  static const struct __bcc_ops_##_name _name = {                                  \
    .sock_map_update = __bcc_##_name##_sock_map_update,                            \
    .msg_redirect_map = __bcc_##_name##_msg_redirect_map,                          \
    .sk_redirect_map = __bcc_##_name##_sk_redirect_map };
#define BPF_SOCKHASH(...) __BCC_OVERLOAD(__BPF_SOCKHASH, __VA_ARGS__)
#define __BPF_SOCKHASH1(n) __BPF_SOCKHASH3(n, u32, 10240)
#define __BPF_SOCKHASH2(n, k) __BPF_SOCKHASH3(n, k, 10240)
#define __BPF_SOCKHASH3(_name, _key, _max)                                           \
  __BCC_MAPDEF(BPF_MAP_TYPE_SOCKHASH, _key, int, _name, _max, 0)                    \
  static __always_inline long __bcc_##_name##_sock_hash_update(void *ctx, void *k, u64 f) { \
    return bpf_sock_hash_update(ctx, __BCC_MAP(_name), k, f); }                     \
  static __always_inline long __bcc_##_name##_msg_redirect_hash(void *ctx, void *k, u64 f) { \
    return bpf_msg_redirect_hash(ctx, __BCC_MAP(_name), k, f); }                    \
  static __always_inline long __bcc_##_name##_sk_redirect_hash(void *ctx, void *k, u64 f) { \
    return bpf_sk_redirect_hash(ctx, __BCC_MAP(_name), k, f); }                     \
  struct __bcc_ops_##_name { _key key; int leaf;                                   \
    long (*sock_hash_update)(void *, void *, u64);                                 \
    long (*msg_redirect_hash)(void *, void *, u64);                                \
    long (*sk_redirect_hash)(void *, void *, u64); };                              \
  static const struct __bcc_ops_##_name _name = {                                  \
    .sock_hash_update = __bcc_##_name##_sock_hash_update,                          \
    .msg_redirect_hash = __bcc_##_name##_msg_redirect_hash,                        \
    .sk_redirect_hash = __bcc_##_name##_sk_redirect_hash };

/* Local storage. */
#define __BCC_STORAGE(_mtype, _kind, _name, _leaf)                                   \
  __BCC_MAPDEF(_mtype, int, _leaf, _name, 0, BPF_F_NO_PREALLOC)                     \
  static __always_inline _leaf *__bcc_##_name##_##_kind##_storage_get(void *o, void *v, u64 f) { \
    return (_leaf *)bpf_##_kind##_storage_get(__BCC_MAP(_name), o, v, f); }         \
  static __always_inline long __bcc_##_name##_##_kind##_storage_delete(void *o) {   \
    return bpf_##_kind##_storage_delete(__BCC_MAP(_name), o); }                     \
  struct __bcc_ops_##_name { int key; _leaf leaf;                                  \
    _leaf *(*_kind##_storage_get)(void *, void *, u64);                            \
    long (*_kind##_storage_delete)(void *); };                                     \
  static const struct __bcc_ops_##_name _name = {                                  \
    ._kind##_storage_get = __bcc_##_name##_##_kind##_storage_get,                   \
    ._kind##_storage_delete = __bcc_##_name##_##_kind##_storage_delete };
#define BPF_SK_STORAGE(_name, _leaf) __BCC_STORAGE(BPF_MAP_TYPE_SK_STORAGE, sk, _name, _leaf)
#define BPF_INODE_STORAGE(_name, _leaf) __BCC_STORAGE(BPF_MAP_TYPE_INODE_STORAGE, inode, _name, _leaf)
#define BPF_TASK_STORAGE(_name, _leaf) __BCC_STORAGE(BPF_MAP_TYPE_TASK_STORAGE, task, _name, _leaf)
#define BPF_CGROUP_STORAGE(_name, _leaf)                                             \
  __BCC_MAPDEF(BPF_MAP_TYPE_CGROUP_STORAGE, struct bpf_cgroup_storage_key, _leaf, _name, 0, 0) \
  static __always_inline _leaf *__bcc_##_name##_get_local_storage(u64 f) {           \
    return (_leaf *)bpf_get_local_storage(__BCC_MAP(_name), f); }                   \
  struct __bcc_ops_##_name { _leaf leaf; _leaf *(*get_local_storage)(u64); };      \
  static const struct __bcc_ops_##_name _name = {                                  \
    .get_local_storage = __bcc_##_name##_get_local_storage };
#define BPF_PERCPU_CGROUP_STORAGE(_name, _leaf)                                      \
  __BCC_MAPDEF(BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, struct bpf_cgroup_storage_key, _leaf, _name, 0, 0) \
  static __always_inline _leaf *__bcc_##_name##_get_local_storage(u64 f) {           \
    return (_leaf *)bpf_get_local_storage(__BCC_MAP(_name), f); }                   \
  struct __bcc_ops_##_name { _leaf leaf; _leaf *(*get_local_storage)(u64); };      \
  static const struct __bcc_ops_##_name _name = {                                  \
    .get_local_storage = __bcc_##_name##_get_local_storage };

/* ------------------------------------------------------------ probe macros */
#define TRACEPOINT_PROBE(category, event)                                            \
  int tracepoint__##category##__##event(struct tracepoint__##category##__##event *args)
#define RAW_TRACEPOINT_PROBE(event)                                                  \
  int raw_tracepoint__##event(struct bpf_raw_tracepoint_args *ctx)

/* KFUNC/KRETFUNC/LSM probes: BPF_PROG style, typed arguments taken from ctx[i]. */
#define __BCC_ARGS0()
#define __BCC_ARGS1(a) (void *)ctx[0]
#define __BCC_ARGS2(a, b) __BCC_ARGS1(a), (void *)ctx[1]
#define __BCC_ARGS3(a, b, c) __BCC_ARGS2(a, b), (void *)ctx[2]
#define __BCC_ARGS4(a, b, c, d) __BCC_ARGS3(a, b, c), (void *)ctx[3]
#define __BCC_ARGS5(a, b, c, d, e) __BCC_ARGS4(a, b, c, d), (void *)ctx[4]
#define __BCC_ARGS6(a, b, c, d, e, f) __BCC_ARGS5(a, b, c, d, e), (void *)ctx[5]
#define __BCC_ARGS7(a, b, c, d, e, f, g) __BCC_ARGS6(a, b, c, d, e, f), (void *)ctx[6]
#define __BCC_ARGS8(a, b, c, d, e, f, g, h) __BCC_ARGS7(a, b, c, d, e, f, g), (void *)ctx[7]
#define __BCC_ARGS(...) __BCC_CAT(__BCC_ARGS, __BCC_NARG(__VA_ARGS__))(__VA_ARGS__)
#define __BCC_BPF_PROG(prefix, name, ...)                                            \
  static __always_inline int ____##prefix##name(unsigned long long *ctx, ##__VA_ARGS__); \
  int prefix##name(unsigned long long *ctx) {                                        \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wint-conversion\"") \
    return ____##prefix##name(ctx __VA_OPT__(, __BCC_ARGS(__VA_ARGS__)));            \
    _Pragma("GCC diagnostic pop") }                                                  \
  static __always_inline int ____##prefix##name(unsigned long long *ctx, ##__VA_ARGS__)
#define KFUNC_PROBE(event, ...) __BCC_BPF_PROG(kfunc__vmlinux__, event, ##__VA_ARGS__)
#define KRETFUNC_PROBE(event, ...) __BCC_BPF_PROG(kretfunc__vmlinux__, event, ##__VA_ARGS__)
#define MODULE_KFUNC_PROBE(module, event, ...) __BCC_BPF_PROG(kfunc__##module##__, event, ##__VA_ARGS__)
#define MODULE_KRETFUNC_PROBE(module, event, ...) __BCC_BPF_PROG(kretfunc__##module##__, event, ##__VA_ARGS__)
#define KMOD_RET(event, ...) __BCC_BPF_PROG(kmod_ret__, event, ##__VA_ARGS__)
#define LSM_PROBE(event, ...) __BCC_BPF_PROG(lsm__, event, ##__VA_ARGS__)
#define BPF_ITER(target) int bpf_iter__##target(struct bpf_iter__##target *ctx)

/* ------------------------------------------------------------ printing and misc */
/* The format also rides in a ".bcc.printk" constant: compat_c.irpass checks it as
 * the kernel will (conversions, one %s before Linux 5.13) and removes it. */
#define bpf_trace_printk(fmt, ...)                                                   \
  ({ static const char __bcc_printk_fmt[] __attribute__((section(".bcc.printk"), used)) = fmt; \
     char ____fmt[] = fmt; __bcc_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__); })
#define BPF_LICENSE_DEFAULT GPL

static __always_inline u64 bpf_log2(u64 v) {
  u32 r, shift;
  r = (v > 0xFFFF) << 4; v >>= r;
  shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
  shift = (v > 0xF) << 2; v >>= shift; r |= shift;
  shift = (v > 0x3) << 1; v >>= shift; r |= shift;
  r |= (v >> 1);
  return r;
}
static __always_inline u64 bpf_log2l(u64 v) {
  u32 hi = v >> 32;
  if (hi) return bpf_log2(hi) + 32 + 1;
  return bpf_log2(v) + 1;
}

/* Network <-> host byte order (x86_64 is little-endian), bcc's helper names. */
static __always_inline u16 bpf_ntohs(u16 v) { return __builtin_bswap16(v); }
static __always_inline u32 bpf_ntohl(u32 v) { return __builtin_bswap32(v); }
static __always_inline u64 bpf_ntohll(u64 v) { return __builtin_bswap64(v); }
static __always_inline unsigned __int128 bpf_ntoh128(unsigned __int128 v) {
  return (unsigned __int128)__builtin_bswap64((u64)v) << 64 | __builtin_bswap64((u64)(v >> 64));
}
#define bpf_htons bpf_ntohs
#define bpf_htonl bpf_ntohl
#define bpf_htonll bpf_ntohll
#define bpf_hton128 bpf_ntoh128

#define bpf_get_current_pid_tgid_ns bpf_get_ns_current_pid_tgid
#define bpf_pseudo_fd(type, fd) ((void *)0)

/* Socket filter packet loads (LLVM BPF builtins). */
unsigned long long load_byte(void *skb, unsigned long long off) __asm__("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) __asm__("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) __asm__("llvm.bpf.load.word");
static __always_inline unsigned long long load_dword(void *skb, unsigned long long off) {
  return load_word(skb, off) << 32 | load_word(skb, off + 4);
}

/* A packet cursor is an offset disguised as a pointer (see bcc/proto.h). */
#define cursor_advance(_cursor, _len)                                                \
  ({ void *__bcc_at = (void *)(_cursor);                                           \
     _cursor = (void *)((unsigned long)(_cursor) + (_len)); __bcc_at; })

/* The bsz bits starting bofs bits into the packet byte at off, big-endian;
 * the load covers only the bytes those bits span. */
static __always_inline u64 bpf_dext_pkt(void *pkt, u64 off, u64 bofs, u64 bsz) {
  u64 end = bofs + bsz, raw, nbytes;
  if (end <= 8) { raw = load_byte(pkt, off); nbytes = 1; }
  else if (end <= 16) { raw = load_half(pkt, off); nbytes = 2; }
  else if (end <= 24) { raw = load_half(pkt, off) << 8 | load_byte(pkt, off + 2); nbytes = 3; }
  else if (end <= 32) { raw = load_word(pkt, off); nbytes = 4; }
  else if (end <= 40) { raw = load_word(pkt, off) << 8 | load_byte(pkt, off + 4); nbytes = 5; }
  else if (end <= 48) { raw = load_word(pkt, off) << 16 | load_half(pkt, off + 4); nbytes = 6; }
  else if (end <= 56) { raw = (load_word(pkt, off) << 16 | load_half(pkt, off + 4)) << 8 | load_byte(pkt, off + 6); nbytes = 7; }
  else { raw = load_dword(pkt, off); nbytes = 8; }
  raw >>= nbytes * 8 - end;
  return bsz >= 64 ? raw : raw & ((1ULL << bsz) - 1);
}

/* Store n into those bits (tc programs: bpf_skb_store_bytes). */
static __always_inline void bpf_dins_pkt(void *pkt, u64 off, u64 bofs, u64 bsz, u64 n) {
  u64 end = bofs + bsz, nbytes = (end + 7) / 8, low = nbytes * 8 - end;
  u64 mask = bsz >= 64 ? ~0ULL : (1ULL << bsz) - 1, v = (n & mask) << low;
  unsigned char buf[8];
  if (bofs || low)
    v |= bpf_dext_pkt(pkt, off, 0, nbytes * 8) & ~(mask << low);
  for (int i = 0; i < 8; i++)
    if (i < nbytes) buf[i] = v >> (8 * (nbytes - 1 - i));
  bpf_skb_store_bytes(pkt, off, buf, nbytes, 0);
}

#define TP_DATA_LOC_READ_CONST(dst, field, length)                                   \
  do {                                                                             \
    unsigned short __offset = args->data_loc_##field & 0xFFFF;                      \
    bpf_probe_read((void *)dst, length, (char *)args + __offset);                  \
  } while (0)
/* The field's own length; into an array it is capped at the array's size, as the
 * verifier refuses a read that could run past it (dst given as a pointer: uncapped). */
#define __BCC_IS_ARRAY(x) (!__builtin_types_compatible_p(__typeof__(x), __typeof__(&(x)[0])))
#define TP_DATA_LOC_READ(dst, field)                                                 \
  do {                                                                             \
    unsigned short __offset = args->data_loc_##field & 0xFFFF;                      \
    u32 __length = args->data_loc_##field >> 16;                                    \
    if (__BCC_IS_ARRAY(dst) && __length > sizeof(dst))                             \
      __length = sizeof(dst);                                                       \
    bpf_probe_read((void *)dst, __length, (char *)args + __offset);                \
  } while (0)
#define TP_DATA_LOC_READ_STR(dst, field, length)                                     \
  do {                                                                             \
    unsigned short __offset = args->data_loc_##field & 0xFFFF;                      \
    bpf_probe_read_str((void *)dst, length, (char *)args + __offset);              \
  } while (0)

#endif /* __BCC_HELPERS_H */
