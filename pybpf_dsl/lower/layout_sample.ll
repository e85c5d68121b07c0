; ModuleID = "drop_udp"
target triple = "bpfel"
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

define i32 @"drop_udp"(ptr %"ctx.arg") section "xdp" !dbg !7
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !10
  store ptr null, ptr %"ctx", align 8, !dbg !10
  %"hdr" = alloca [24 x i8], align 8, !dbg !10
  br label %"body", !dbg !16
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !10
  call void @"llvm.lifetime.start.p0"([24 x i8]* %"hdr"), !dbg !11
  call void @"llvm.memset.p0.i64"([24 x i8]* align 8 %"hdr", i8 0, i64 24, i1 0), !dbg !11
  %".7" = load ptr, ptr %"ctx", align 8, !dbg !12
  %".8" = zext i32 0 to i64 , !dbg !12
  %".9" = inttoptr i64 189 to ptr , !dbg !12
  %".10" = call i64 %".9"(ptr %".7", i64 %".8", [24 x i8]* %"hdr", i32 24), !dbg !12
  %".11" = icmp slt i64 %".10", 0 , !dbg !12
  br i1 %".11", label %"if.then", label %"if.else", !dbg !12
if.then:
  %".13" = trunc i64 2 to i32 , !dbg !13
  ret i32 %".13", !dbg !13
if.else:
  br label %"if.end", !dbg !13
if.end:
  %".16" = getelementptr i8, [24 x i8]* %"hdr", i64 12 , !dbg !14
  %".17" = load i8, [24 x i8]* %".16", align 1, !dbg !14
  %".18" = zext i8 %".17" to i32 , !dbg !14
  %".19" = icmp eq i32 %".18", 8 , !dbg !14
  br i1 %".19", label %"bool.next", label %"bool.end", !dbg !14
if.then.1:
  %".33" = trunc i64 1 to i32 , !dbg !15
  ret i32 %".33", !dbg !15
if.else.1:
  br label %"if.end.1", !dbg !15
if.end.1:
  call void @"llvm.lifetime.end.p0"([24 x i8]* %"hdr"), !dbg !15
  %".37" = trunc i64 2 to i32 , !dbg !16
  ret i32 %".37", !dbg !16
bool.end:
  %".31" = phi  i1 [%".19", %"if.end"], [%".24", %"bool.next"], [%".29", %"bool.next.1"] , !dbg !14
  br i1 %".31", label %"if.then.1", label %"if.else.1", !dbg !14
bool.next:
  %".21" = getelementptr i8, [24 x i8]* %"hdr", i64 13 , !dbg !14
  %".22" = load i8, [24 x i8]* %".21", align 1, !dbg !14
  %".23" = zext i8 %".22" to i32 , !dbg !14
  %".24" = icmp eq i32 %".23", 0 , !dbg !14
  br i1 %".24", label %"bool.next.1", label %"bool.end", !dbg !14
bool.next.1:
  %".26" = getelementptr i8, [24 x i8]* %"hdr", i64 23 , !dbg !14
  %".27" = load i8, [24 x i8]* %".26", align 1, !dbg !14
  %".28" = zext i8 %".27" to i32 , !dbg !14
  %".29" = icmp eq i32 %".28", 17 , !dbg !14
  br label %"bool.end", !dbg !14
}

declare void @"llvm.lifetime.start.p0"(ptr %".1")

declare void @"llvm.memset.p0.i64"(ptr %".1", i8 %".2", i64 %".3", i1 %".4")

declare void @"llvm.lifetime.end.p0"(ptr %".1")

define i32 @"first_64"(ptr %"ctx.arg") section "socket" !dbg !20
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !23
  store ptr null, ptr %"ctx", align 8, !dbg !23
  br label %"body", !dbg !24
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !23
  %".5" = load ptr, ptr %"ctx", align 8, !dbg !24
  %".6" = getelementptr i8, ptr %".5", i64 0 , !dbg !24
  %".7" = load i32, ptr %".6", align 4, !dbg !24
  %".8" = icmp ugt i32 %".7", 64 , !dbg !24
  br i1 %".8", label %"ifx.then", label %"ifx.else", !dbg !24
ifx.then:
  br label %"ifx.end", !dbg !24
ifx.else:
  %".11" = load ptr, ptr %"ctx", align 8, !dbg !24
  %".12" = getelementptr i8, ptr %".11", i64 0 , !dbg !24
  %".13" = load i32, ptr %".12", align 4, !dbg !24
  br label %"ifx.end", !dbg !24
ifx.end:
  %".15" = phi  i32 [64, %"ifx.then"], [%".13", %"ifx.else"] , !dbg !24
  %".16" = zext i32 %".15" to i64 , !dbg !24
  %".17" = trunc i64 %".16" to i32 , !dbg !24
  ret i32 %".17", !dbg !24
}

define i32 @"mark"(ptr %"ctx.arg") section "tc" !dbg !28
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !31
  store ptr null, ptr %"ctx", align 8, !dbg !31
  br label %"body", !dbg !33
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !31
  %".5" = load ptr, ptr %"ctx", align 8, !dbg !32
  %".6" = getelementptr i8, ptr %".5", i64 8 , !dbg !32
  store i32 42, ptr %".6", align 4, !dbg !32
  %".8" = trunc i64 0 to i32 , !dbg !33
  ret i32 %".8", !dbg !33
}

define i32 @"allow"(ptr %"ctx.arg") section "cgroup_skb/egress" !dbg !37
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !40
  store ptr null, ptr %"ctx", align 8, !dbg !40
  br label %"body", !dbg !41
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !40
  %".5" = trunc i64 1 to i32 , !dbg !41
  ret i32 %".5", !dbg !41
}

@"_license" = global [4 x i8] c"GPL\00", section "license"
@"llvm.compiler.used" = appending global [1 x ptr] [[4 x i8]* @"_license"], section "llvm.metadata"
!llvm.dbg.cu = !{ !2 }
!llvm.module.flags = !{ !42, !43 }
!0 = !DIFile(directory: "/work/main/examples", filename: "packet_programs.py")
!1 = !{  }
!2 = distinct !DICompileUnit(emissionKind: FullDebug, file: !0, globals: !1, isOptimized: true, language: DW_LANG_C99, producer: "pybpf_dsl", runtimeVersion: 0)
!3 = !DIBasicType(encoding: DW_ATE_signed, name: "int", size: 32)
!4 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!5 = !{ !3, !4 }
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 7, name: "drop_udp", scope: !0, scopeLine: 7, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !6, unit: !2, retainedNodes: !9)
!8 = !DILocalVariable(arg: 1, file: !0, line: 7, name: "ctx", scope: !7, type: !4)
!9 = !{ !8 }
!10 = !DILocation(column: 1, line: 7, scope: !7)
!11 = !DILocation(column: 5, line: 8, scope: !7)
!12 = !DILocation(column: 5, line: 9, scope: !7)
!13 = !DILocation(column: 9, line: 10, scope: !7)
!14 = !DILocation(column: 5, line: 11, scope: !7)
!15 = !DILocation(column: 9, line: 12, scope: !7)
!16 = !DILocation(column: 5, line: 13, scope: !7)
!17 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!18 = !{ !3, !17 }
!19 = !DISubroutineType(types: !18)
!20 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 16, name: "first_64", scope: !0, scopeLine: 16, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !19, unit: !2, retainedNodes: !22)
!21 = !DILocalVariable(arg: 1, file: !0, line: 16, name: "ctx", scope: !20, type: !17)
!22 = !{ !21 }
!23 = !DILocation(column: 1, line: 16, scope: !20)
!24 = !DILocation(column: 5, line: 17, scope: !20)
!25 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!26 = !{ !3, !25 }
!27 = !DISubroutineType(types: !26)
!28 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 20, name: "mark", scope: !0, scopeLine: 20, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !27, unit: !2, retainedNodes: !30)
!29 = !DILocalVariable(arg: 1, file: !0, line: 20, name: "ctx", scope: !28, type: !25)
!30 = !{ !29 }
!31 = !DILocation(column: 1, line: 20, scope: !28)
!32 = !DILocation(column: 5, line: 21, scope: !28)
!33 = !DILocation(column: 5, line: 22, scope: !28)
!34 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!35 = !{ !3, !34 }
!36 = !DISubroutineType(types: !35)
!37 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 25, name: "allow", scope: !0, scopeLine: 25, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !36, unit: !2, retainedNodes: !39)
!38 = !DILocalVariable(arg: 1, file: !0, line: 25, name: "ctx", scope: !37, type: !34)
!39 = !{ !38 }
!40 = !DILocation(column: 1, line: 25, scope: !37)
!41 = !DILocation(column: 5, line: 26, scope: !37)
!42 = !{ i32 7, !"Dwarf Version", i32 5 }
!43 = !{ i32 2, !"Debug Info Version", i32 3 }
; ---- next module ----
; ModuleID = "on_exec"
target triple = "bpfel"
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

define i32 @"on_exec"(ptr %"args.arg") section "tracepoint/sched/sched_process_exec" !dbg !7
{
entry:
  %"args" = alloca ptr, align 8, !dbg !10
  store ptr null, ptr %"args", align 8, !dbg !10
  %"ev" = alloca [84 x i8], align 8, !dbg !10
  %"kread" = alloca ptr, align 8, !dbg !11
  %"kread.1" = alloca i32, align 4, !dbg !11
  %"arg" = alloca i32, align 4, !dbg !11
  %"mapval" = alloca i64, align 8, !dbg !11
  store i64 0, i64* %"mapval", align 8, !dbg !11
  br label %"body", !dbg !63
body:
  store ptr %"args.arg", ptr %"args", align 8, !dbg !10
  %".5" = inttoptr i64 35 to ptr , !dbg !11
  %".6" = call ptr %".5"(), !dbg !11
  %".7" = getelementptr i8, ptr %".6", i64 1280 , !dbg !11
  call void @"llvm.lifetime.start.p0"(ptr %"kread"), !dbg !11
  %".9" = inttoptr i64 113 to ptr , !dbg !11
  %".10" = call i64 %".9"(ptr %"kread", i32 8, ptr %".7"), !dbg !11
  %".11" = load ptr, ptr %"kread", align 8, !dbg !11
  %".12" = getelementptr i8, ptr %".11", i64 1268 , !dbg !11
  call void @"llvm.lifetime.start.p0"(i32* %"kread.1"), !dbg !11
  %".14" = inttoptr i64 113 to ptr , !dbg !11
  %".15" = call i64 %".14"(i32* %"kread.1", i32 4, ptr %".12"), !dbg !11
  %".16" = load i32, i32* %"kread.1", align 4, !dbg !11
  %".17" = sext i32 %".16" to i64 , !dbg !11
  call void @"llvm.lifetime.start.p0"(i32* %"arg"), !dbg !11
  store i32 0, i32* %"arg", align 4, !dbg !11
  %".20" = inttoptr i64 1 to ptr , !dbg !11
  %".21" = call ptr %".20"({ptr, ptr, ptr, ptr}* @"parent", i32* %"arg"), !dbg !11
  %".23" = icmp ne ptr %".21", null , !dbg !11
  br i1 %".23", label %"get.hit", label %"get.miss", !dbg !11
if.then:
  call void @"llvm.lifetime.start.p0"([84 x i8]* %"ev"), !dbg !33
  call void @"llvm.memset.p0.i64"([84 x i8]* align 8 %"ev", i8 0, i64 84, i1 0), !dbg !33
  %".34" = call i32 @"tgid"(), !dbg !34
  %".35" = getelementptr i8, [84 x i8]* %"ev", i64 0 , !dbg !34
  store i32 %".34", [84 x i8]* %".35", align 4, !dbg !34
  %".37" = getelementptr i8, [84 x i8]* %"ev", i64 4 , !dbg !42
  %".38" = inttoptr i64 16 to ptr , !dbg !42
  %".39" = call i64 %".38"([84 x i8]* %".37", i32 16), !dbg !42
  %".40" = getelementptr i8, [84 x i8]* %"ev", i64 20 , !dbg !43
  %".41" = load ptr, ptr %"args", align 8, !dbg !43
  %".42" = getelementptr i8, ptr %".41", i64 8 , !dbg !43
  %".43" = load i32, ptr %".42", !dbg !43
  %".44" = and i32 %".43", 65535, !dbg !43
  %".45" = zext i32 %".44" to i64 , !dbg !43
  %".46" = getelementptr i8, ptr %".41", i64 %".45" , !dbg !43
  %".47" = inttoptr i64 115 to ptr , !dbg !43
  %".48" = call i64 %".47"([84 x i8]* %".40", i32 64, ptr %".46"), !dbg !43
  %".49" = shl i64 0, 32, !dbg !44
  %".50" = or i64 %".49", 4294967295, !dbg !44
  %".51" = inttoptr i64 25 to ptr , !dbg !44
  %".52" = call i64 %".51"(ptr %"args.arg", {ptr, ptr, ptr, ptr}* @"execs", i64 %".50", [84 x i8]* %"ev", i64 84), !dbg !44
  call void @"llvm.lifetime.end.p0"([84 x i8]* %"ev"), !dbg !44
  br label %"if.end", !dbg !44
if.else:
  br label %"if.end", !dbg !44
if.end:
  call void @"llvm.lifetime.end.p0"(ptr %"kread"), !dbg !44
  call void @"llvm.lifetime.end.p0"(i32* %"kread.1"), !dbg !44
  call void @"llvm.lifetime.end.p0"(i32* %"arg"), !dbg !44
  %".59" = trunc i64 0 to i32 , !dbg !63
  ret i32 %".59", !dbg !63
get.hit:
  %".25" = load i64, ptr %".21", align 8, !dbg !11
  store i64 %".25", i64* %"mapval", align 8, !dbg !11
  br label %"get.end", !dbg !11
get.miss:
  br label %"get.end", !dbg !11
get.end:
  %".29" = load i64, i64* %"mapval", align 8, !dbg !11
  %".30" = icmp eq i64 %".17", %".29" , !dbg !11
  br i1 %".30", label %"if.then", label %"if.else", !dbg !11
}

declare void @"llvm.lifetime.start.p0"(ptr %".1")

@"parent" = global {ptr, ptr, ptr, ptr} zeroinitializer, section ".maps", align 8, !dbg !32
declare void @"llvm.memset.p0.i64"(ptr %".1", i8 %".2", i64 %".3", i1 %".4")

define internal i32 @"tgid"() alwaysinline !dbg !38
{
entry:
  br label %"body", !dbg !41
body:
  %".2" = inttoptr i64 14 to ptr , !dbg !41
  %".3" = call i64 %".2"(), !dbg !41
  %".4" = and i64 32, 63, !dbg !41
  %".5" = lshr i64 %".3", %".4", !dbg !41
  %".6" = trunc i64 %".5" to i32 , !dbg !41
  ret i32 %".6", !dbg !41
}

@"execs" = global {ptr, ptr, ptr, ptr} zeroinitializer, section ".maps", align 8, !dbg !62
declare void @"llvm.lifetime.end.p0"(ptr %".1")

@"_license" = global [4 x i8] c"GPL\00", section "license"
@"llvm.compiler.used" = appending global [3 x ptr] [{ptr, ptr, ptr, ptr}* @"parent", {ptr, ptr, ptr, ptr}* @"execs", [4 x i8]* @"_license"], section "llvm.metadata"
!llvm.dbg.cu = !{ !2 }
!llvm.module.flags = !{ !65, !66 }
!0 = !DIFile(directory: "/work/main/examples", filename: "tracepoint_execsnoop.py")
!1 = !{  }
!2 = distinct !DICompileUnit(emissionKind: FullDebug, file: !0, globals: !64, isOptimized: true, language: DW_LANG_C99, producer: "pybpf_dsl", runtimeVersion: 0)
!3 = !DIBasicType(encoding: DW_ATE_signed, name: "int", size: 32)
!4 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!5 = !{ !3, !4 }
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 17, name: "on_exec", scope: !0, scopeLine: 17, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !6, unit: !2, retainedNodes: !9)
!8 = !DILocalVariable(arg: 1, file: !0, line: 17, name: "ctx", scope: !7, type: !4)
!9 = !{ !8 }
!10 = !DILocation(column: 1, line: 17, scope: !7)
!11 = !DILocation(column: 5, line: 18, scope: !7)
!12 = !DISubrange(count: 2)
!13 = !{ !12 }
!14 = !DICompositeType(baseType: !3, elements: !13, size: 64, tag: DW_TAG_array_type)
!15 = !DIDerivedType(baseType: !14, size: 64, tag: DW_TAG_pointer_type)
!16 = !DISubrange(count: 1)
!17 = !{ !16 }
!18 = !DICompositeType(baseType: !3, elements: !17, size: 32, tag: DW_TAG_array_type)
!19 = !DIDerivedType(baseType: !18, size: 64, tag: DW_TAG_pointer_type)
!20 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned int", size: 32)
!21 = !DIDerivedType(baseType: !20, size: 64, tag: DW_TAG_pointer_type)
!22 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned long long", size: 64)
!23 = !DIDerivedType(baseType: !22, size: 64, tag: DW_TAG_pointer_type)
!24 = !DIDerivedType(baseType: !15, file: !0, name: "type", offset: 0, size: 64, tag: DW_TAG_member)
!25 = !DIDerivedType(baseType: !19, file: !0, name: "max_entries", offset: 64, size: 64, tag: DW_TAG_member)
!26 = !DIDerivedType(baseType: !21, file: !0, name: "key", offset: 128, size: 64, tag: DW_TAG_member)
!27 = !DIDerivedType(baseType: !23, file: !0, name: "value", offset: 192, size: 64, tag: DW_TAG_member)
!28 = !{ !24, !25, !26, !27 }
!29 = !DICompositeType(elements: !28, file: !0, size: 256, tag: DW_TAG_structure_type)
!30 = distinct !DIGlobalVariable(file: !0, isDefinition: true, isLocal: false, line: 0, name: "parent", scope: !2, type: !29)
!31 = !DIExpression()
!32 = !DIGlobalVariableExpression(expr: !31, var: !30)
!33 = !DILocation(column: 9, line: 19, scope: !7)
!34 = !DILocation(column: 9, line: 20, scope: !7)
!35 = !DIFile(directory: "/work/main/pybpf_dsl/helpers", filename: "derived.py")
!36 = !{ !20 }
!37 = !DISubroutineType(types: !36)
!38 = distinct !DISubprogram(file: !35, flags: DIFlagPrototyped, line: 11, name: "tgid", scope: !35, scopeLine: 11, spFlags: DISPFlagDefinition | DISPFlagOptimized | DISPFlagLocalToUnit, type: !37, unit: !2, retainedNodes: !1)
!39 = !DILocation(column: 1, line: 11, scope: !38)
!40 = !DILocation(column: 5, line: 12, scope: !38)
!41 = !DILocation(column: 5, line: 13, scope: !38)
!42 = !DILocation(column: 9, line: 21, scope: !7)
!43 = !DILocation(column: 9, line: 22, scope: !7)
!44 = !DILocation(column: 9, line: 23, scope: !7)
!45 = !DISubrange(count: 4)
!46 = !{ !45 }
!47 = !DICompositeType(baseType: !3, elements: !46, size: 128, tag: DW_TAG_array_type)
!48 = !DIDerivedType(baseType: !47, size: 64, tag: DW_TAG_pointer_type)
!49 = !DICompositeType(baseType: !3, elements: !13, size: 64, tag: DW_TAG_array_type)
!50 = !DIDerivedType(baseType: !49, size: 64, tag: DW_TAG_pointer_type)
!51 = !DICompositeType(baseType: !3, elements: !46, size: 128, tag: DW_TAG_array_type)
!52 = !DIDerivedType(baseType: !51, size: 64, tag: DW_TAG_pointer_type)
!53 = !DICompositeType(baseType: !3, elements: !46, size: 128, tag: DW_TAG_array_type)
!54 = !DIDerivedType(baseType: !53, size: 64, tag: DW_TAG_pointer_type)
!55 = !DIDerivedType(baseType: !48, file: !0, name: "type", offset: 0, size: 64, tag: DW_TAG_member)
!56 = !DIDerivedType(baseType: !50, file: !0, name: "max_entries", offset: 64, size: 64, tag: DW_TAG_member)
!57 = !DIDerivedType(baseType: !52, file: !0, name: "key_size", offset: 128, size: 64, tag: DW_TAG_member)
!58 = !DIDerivedType(baseType: !54, file: !0, name: "value_size", offset: 192, size: 64, tag: DW_TAG_member)
!59 = !{ !55, !56, !57, !58 }
!60 = !DICompositeType(elements: !59, file: !0, size: 256, tag: DW_TAG_structure_type)
!61 = distinct !DIGlobalVariable(file: !0, isDefinition: true, isLocal: false, line: 0, name: "execs", scope: !2, type: !60)
!62 = !DIGlobalVariableExpression(expr: !31, var: !61)
!63 = !DILocation(column: 5, line: 24, scope: !7)
!64 = !{ !32, !62 }
!65 = !{ i32 7, !"Dwarf Version", i32 5 }
!66 = !{ i32 2, !"Debug Info Version", i32 3 }
; ---- next module ----
; ModuleID = "on_sys_enter"
target triple = "bpfel"
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

define i32 @"on_sys_enter"(ptr %"ctx.arg") section "raw_tracepoint/sys_enter" !dbg !7
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !10
  store ptr null, ptr %"ctx", align 8, !dbg !10
  %"arg" = alloca i32, align 4, !dbg !11
  %"mapval" = alloca i64, align 8, !dbg !11
  store i64 0, i64* %"mapval", align 8, !dbg !11
  %"arg.1" = alloca i32, align 4, !dbg !40
  %"inc.first" = alloca i64, align 8, !dbg !40
  br label %"body", !dbg !57
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !10
  %".5" = call i32 @"tgid"(), !dbg !11
  %".6" = zext i32 %".5" to i64 , !dbg !11
  call void @"llvm.lifetime.start.p0"(i32* %"arg"), !dbg !11
  store i32 0, i32* %"arg", align 4, !dbg !11
  %".9" = inttoptr i64 1 to ptr , !dbg !11
  %".10" = call ptr %".9"({ptr, ptr, ptr, ptr}* @"me", i32* %"arg"), !dbg !11
  %".12" = icmp ne ptr %".10", null , !dbg !11
  br i1 %".12", label %"get.hit", label %"get.miss", !dbg !11
if.then:
  call void @"llvm.lifetime.start.p0"(i32* %"arg.1"), !dbg !40
  %".22" = load ptr, ptr %"ctx", align 8, !dbg !40
  %".23" = getelementptr i8, ptr %".22", i64 0 , !dbg !40
  %".24" = getelementptr i8, ptr %".23", i64 8 , !dbg !40
  %".25" = load i64, ptr %".24", align 8, !dbg !40
  %".26" = trunc i64 %".25" to i32 , !dbg !40
  store i32 %".26", i32* %"arg.1", align 4, !dbg !40
  %".28" = inttoptr i64 1 to ptr , !dbg !40
  %".29" = call ptr %".28"({ptr, ptr, ptr, ptr}* @"calls", i32* %"arg.1"), !dbg !40
  %".30" = icmp ne ptr %".29", null , !dbg !40
  br i1 %".30", label %"inc.add", label %"inc.insert", !dbg !40
if.else:
  br label %"if.end", !dbg !40
if.end:
  call void @"llvm.lifetime.end.p0"(i32* %"arg"), !dbg !40
  %".50" = trunc i64 0 to i32 , !dbg !57
  ret i32 %".50", !dbg !57
get.hit:
  %".14" = load i64, ptr %".10", align 8, !dbg !11
  store i64 %".14", i64* %"mapval", align 8, !dbg !11
  br label %"get.end", !dbg !11
get.miss:
  br label %"get.end", !dbg !11
get.end:
  %".18" = load i64, i64* %"mapval", align 8, !dbg !11
  %".19" = icmp eq i64 %".6", %".18" , !dbg !11
  br i1 %".19", label %"if.then", label %"if.else", !dbg !11
inc.add:
  %".42" = phi  ptr [%".29", %"if.then"], [%".39", %"inc.retry"] , !dbg !40
  %".43" = atomicrmw add ptr %".42", i64 1 monotonic , !dbg !40
  br label %"inc.end", !dbg !40
inc.end:
  call void @"llvm.lifetime.end.p0"(i32* %"arg.1"), !dbg !40
  call void @"llvm.lifetime.end.p0"(i64* %"inc.first"), !dbg !40
  br label %"if.end", !dbg !40
inc.insert:
  call void @"llvm.lifetime.start.p0"(i64* %"inc.first"), !dbg !40
  store i64 1, i64* %"inc.first", align 8, !dbg !40
  %".34" = inttoptr i64 2 to ptr , !dbg !40
  %".35" = call i64 %".34"({ptr, ptr, ptr, ptr}* @"calls", i32* %"arg.1", i64* %"inc.first", i64 1), !dbg !40
  %".36" = icmp ne i64 %".35", 0 , !dbg !40
  br i1 %".36", label %"inc.retry", label %"inc.end", !dbg !40
inc.retry:
  %".38" = inttoptr i64 1 to ptr , !dbg !40
  %".39" = call ptr %".38"({ptr, ptr, ptr, ptr}* @"calls", i32* %"arg.1"), !dbg !40
  %".40" = icmp ne ptr %".39", null , !dbg !40
  br i1 %".40", label %"inc.add", label %"inc.end", !dbg !40
}

define internal i32 @"tgid"() alwaysinline !dbg !16
{
entry:
  br label %"body", !dbg !19
body:
  %".2" = inttoptr i64 14 to ptr , !dbg !19
  %".3" = call i64 %".2"(), !dbg !19
  %".4" = and i64 32, 63, !dbg !19
  %".5" = lshr i64 %".3", %".4", !dbg !19
  %".6" = trunc i64 %".5" to i32 , !dbg !19
  ret i32 %".6", !dbg !19
}

declare void @"llvm.lifetime.start.p0"(ptr %".1")

@"me" = global {ptr, ptr, ptr, ptr} zeroinitializer, section ".maps", align 8, !dbg !39
@"calls" = global {ptr, ptr, ptr, ptr} zeroinitializer, section ".maps", align 8, !dbg !56
declare void @"llvm.lifetime.end.p0"(ptr %".1")

@"_license" = global [4 x i8] c"GPL\00", section "license"
@"llvm.compiler.used" = appending global [3 x ptr] [{ptr, ptr, ptr, ptr}* @"me", {ptr, ptr, ptr, ptr}* @"calls", [4 x i8]* @"_license"], section "llvm.metadata"
!llvm.dbg.cu = !{ !2 }
!llvm.module.flags = !{ !59, !60 }
!0 = !DIFile(directory: "/work/main/examples", filename: "raw_tracepoint_syscount.py")
!1 = !{  }
!2 = distinct !DICompileUnit(emissionKind: FullDebug, file: !0, globals: !58, isOptimized: true, language: DW_LANG_C99, producer: "pybpf_dsl", runtimeVersion: 0)
!3 = !DIBasicType(encoding: DW_ATE_signed, name: "int", size: 32)
!4 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!5 = !{ !3, !4 }
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 12, name: "on_sys_enter", scope: !0, scopeLine: 12, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !6, unit: !2, retainedNodes: !9)
!8 = !DILocalVariable(arg: 1, file: !0, line: 12, name: "ctx", scope: !7, type: !4)
!9 = !{ !8 }
!10 = !DILocation(column: 1, line: 12, scope: !7)
!11 = !DILocation(column: 5, line: 13, scope: !7)
!12 = !DIFile(directory: "/work/main/pybpf_dsl/helpers", filename: "derived.py")
!13 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned int", size: 32)
!14 = !{ !13 }
!15 = !DISubroutineType(types: !14)
!16 = distinct !DISubprogram(file: !12, flags: DIFlagPrototyped, line: 11, name: "tgid", scope: !12, scopeLine: 11, spFlags: DISPFlagDefinition | DISPFlagOptimized | DISPFlagLocalToUnit, type: !15, unit: !2, retainedNodes: !1)
!17 = !DILocation(column: 1, line: 11, scope: !16)
!18 = !DILocation(column: 5, line: 12, scope: !16)
!19 = !DILocation(column: 5, line: 13, scope: !16)
!20 = !DISubrange(count: 2)
!21 = !{ !20 }
!22 = !DICompositeType(baseType: !3, elements: !21, size: 64, tag: DW_TAG_array_type)
!23 = !DIDerivedType(baseType: !22, size: 64, tag: DW_TAG_pointer_type)
!24 = !DISubrange(count: 1)
!25 = !{ !24 }
!26 = !DICompositeType(baseType: !3, elements: !25, size: 32, tag: DW_TAG_array_type)
!27 = !DIDerivedType(baseType: !26, size: 64, tag: DW_TAG_pointer_type)
!28 = !DIDerivedType(baseType: !13, size: 64, tag: DW_TAG_pointer_type)
!29 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned long long", size: 64)
!30 = !DIDerivedType(baseType: !29, size: 64, tag: DW_TAG_pointer_type)
!31 = !DIDerivedType(baseType: !23, file: !0, name: "type", offset: 0, size: 64, tag: DW_TAG_member)
!32 = !DIDerivedType(baseType: !27, file: !0, name: "max_entries", offset: 64, size: 64, tag: DW_TAG_member)
!33 = !DIDerivedType(baseType: !28, file: !0, name: "key", offset: 128, size: 64, tag: DW_TAG_member)
!34 = !DIDerivedType(baseType: !30, file: !0, name: "value", offset: 192, size: 64, tag: DW_TAG_member)
!35 = !{ !31, !32, !33, !34 }
!36 = !DICompositeType(elements: !35, file: !0, size: 256, tag: DW_TAG_structure_type)
!37 = distinct !DIGlobalVariable(file: !0, isDefinition: true, isLocal: false, line: 0, name: "me", scope: !2, type: !36)
!38 = !DIExpression()
!39 = !DIGlobalVariableExpression(expr: !38, var: !37)
!40 = !DILocation(column: 9, line: 14, scope: !7)
!41 = !DICompositeType(baseType: !3, elements: !25, size: 32, tag: DW_TAG_array_type)
!42 = !DIDerivedType(baseType: !41, size: 64, tag: DW_TAG_pointer_type)
!43 = !DISubrange(count: 512)
!44 = !{ !43 }
!45 = !DICompositeType(baseType: !3, elements: !44, size: 16384, tag: DW_TAG_array_type)
!46 = !DIDerivedType(baseType: !45, size: 64, tag: DW_TAG_pointer_type)
!47 = !DIDerivedType(baseType: !13, size: 64, tag: DW_TAG_pointer_type)
!48 = !DIDerivedType(baseType: !29, size: 64, tag: DW_TAG_pointer_type)
!49 = !DIDerivedType(baseType: !42, file: !0, name: "type", offset: 0, size: 64, tag: DW_TAG_member)
!50 = !DIDerivedType(baseType: !46, file: !0, name: "max_entries", offset: 64, size: 64, tag: DW_TAG_member)
!51 = !DIDerivedType(baseType: !47, file: !0, name: "key", offset: 128, size: 64, tag: DW_TAG_member)
!52 = !DIDerivedType(baseType: !48, file: !0, name: "value", offset: 192, size: 64, tag: DW_TAG_member)
!53 = !{ !49, !50, !51, !52 }
!54 = !DICompositeType(elements: !53, file: !0, size: 256, tag: DW_TAG_structure_type)
!55 = distinct !DIGlobalVariable(file: !0, isDefinition: true, isLocal: false, line: 0, name: "calls", scope: !2, type: !54)
!56 = !DIGlobalVariableExpression(expr: !38, var: !55)
!57 = !DILocation(column: 5, line: 15, scope: !7)
!58 = !{ !39, !56 }
!59 = !{ i32 7, !"Dwarf Version", i32 5 }
!60 = !{ i32 2, !"Debug Info Version", i32 3 }
; ---- next module ----
; ModuleID = "entry"
target triple = "bpfel"
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

define i32 @"entry"(ptr %"ctx.arg") section "syscall" !dbg !7
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !10
  store ptr null, ptr %"ctx", align 8, !dbg !10
  br label %"body", !dbg !38
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !10
  %".5" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".6" = getelementptr i8, ptr %".5", i64 0 , !dbg !11
  %".7" = load i64, ptr %".6", align 8, !dbg !11
  %".8" = trunc i64 %".7" to i32 , !dbg !11
  %".9" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".10" = getelementptr i8, ptr %".9", i64 8 , !dbg !11
  %".11" = load i64, ptr %".10", align 8, !dbg !11
  %".12" = trunc i64 %".11" to i32 , !dbg !11
  %".13" = call i64 @"loops"(i32 %".8", i32 %".12"), !dbg !11
  %".14" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".15" = getelementptr i8, ptr %".14", i64 16 , !dbg !11
  store i64 %".13", ptr %".15", align 8, !dbg !11
  %".17" = trunc i64 0 to i32 , !dbg !38
  ret i32 %".17", !dbg !38
}

define internal i64 @"loops"(i32 %"n.arg", i32 %"stop.arg") alwaysinline !dbg !17
{
entry:
  %"n" = alloca i32, align 4, !dbg !21
  store i32 0, i32* %"n", align 4, !dbg !21
  %"stop" = alloca i32, align 4, !dbg !21
  store i32 0, i32* %"stop", align 4, !dbg !21
  %"total" = alloca i64, align 8, !dbg !21
  store i64 0, i64* %"total", align 8, !dbg !21
  %"i" = alloca i32, align 4, !dbg !21
  store i32 0, i32* %"i", align 4, !dbg !21
  %"j" = alloca i64, align 8, !dbg !21
  store i64 0, i64* %"j", align 8, !dbg !21
  %"k" = alloca i64, align 8, !dbg !21
  store i64 0, i64* %"k", align 8, !dbg !21
  %"range.i" = alloca i64, align 8, !dbg !31
  %"range.stop" = alloca i64, align 8, !dbg !31
  %"range.i.1" = alloca i64, align 8, !dbg !35
  %"range.stop.1" = alloca i64, align 8, !dbg !35
  br label %"body", !dbg !37
body:
  store i32 %"n.arg", i32* %"n", align 4, !dbg !21
  store i32 %"stop.arg", i32* %"stop", align 4, !dbg !21
  store i64 0, i64* %"total", align 8, !dbg !22
  store i32 0, i32* %"i", align 4, !dbg !23
  br label %"while.cond", !dbg !24
while.cond:
  %".15" = load i32, i32* %"i", align 4, !dbg !24
  %".16" = load i32, i32* %"n", align 4, !dbg !24
  %".17" = icmp ult i32 %".15", %".16" , !dbg !24
  br i1 %".17", label %"bool.next", label %"bool.end", !dbg !24
while.body:
  %".24" = load i32, i32* %"i", align 4, !dbg !25
  %".25" = add i32 %".24", 1, !dbg !25
  store i32 %".25", i32* %"i", align 4, !dbg !25
  %".27" = load i32, i32* %"i", align 4, !dbg !26
  %".28" = icmp eq i32 3, 0 , !dbg !26
  %".29" = select  i1 %".28", i32 1, i32 3 , !dbg !26
  %".30" = urem i32 %".27", %".29", !dbg !26
  %".31" = select  i1 %".28", i32 %".27", i32 %".30" , !dbg !26
  %".32" = icmp eq i32 %".31", 0 , !dbg !26
  br i1 %".32", label %"if.then", label %"if.else", !dbg !26
while.end:
  call void @"llvm.lifetime.start.p0"(i64* %"range.i"), !dbg !31
  call void @"llvm.lifetime.start.p0"(i64* %"range.stop"), !dbg !31
  store i64 2, i64* %"range.i", align 8, !dbg !31
  store i64 40, i64* %"range.stop", align 8, !dbg !31
  br label %"for.cond", !dbg !31
bool.end:
  %".22" = phi  i1 [%".17", %"while.cond"], [%".20", %"bool.next"] , !dbg !24
  br i1 %".22", label %"while.body", label %"while.end", !dbg !24
bool.next:
  %".19" = load i32, i32* %"i", align 4, !dbg !24
  %".20" = icmp ult i32 %".19", 64 , !dbg !24
  br label %"bool.end", !dbg !24
if.then:
  br label %"while.cond", !dbg !27
if.else:
  br label %"if.end", !dbg !27
if.end:
  %".36" = load i32, i32* %"i", align 4, !dbg !28
  %".37" = load i32, i32* %"stop", align 4, !dbg !28
  %".38" = icmp ugt i32 %".36", %".37" , !dbg !28
  br i1 %".38", label %"if.then.1", label %"if.else.1", !dbg !28
if.then.1:
  br label %"while.end", !dbg !29
if.else.1:
  br label %"if.end.1", !dbg !29
if.end.1:
  %".42" = load i64, i64* %"total", align 8, !dbg !30
  %".43" = load i32, i32* %"i", align 4, !dbg !30
  %".44" = load i32, i32* %"i", align 4, !dbg !30
  %".45" = mul i32 %".43", %".44", !dbg !30
  %".46" = zext i32 %".45" to i64 , !dbg !30
  %".47" = add i64 %".42", %".46", !dbg !30
  store i64 %".47", i64* %"total", align 8, !dbg !30
  br label %"while.cond", !dbg !30
for.cond:
  %".55" = load i64, i64* %"range.i", align 8, !dbg !31
  %".56" = load i64, i64* %"range.stop", align 8, !dbg !31
  %".57" = icmp slt i64 %".55", %".56" , !dbg !31
  br i1 %".57", label %"for.body", label %"for.end", !dbg !31
for.body:
  store i64 %".55", i64* %"j", align 8, !dbg !31
  %".60" = load i64, i64* %"j", align 8, !dbg !32
  %".61" = load i32, i32* %"n", align 4, !dbg !32
  %".62" = zext i32 %".61" to i64 , !dbg !32
  %".63" = icmp sgt i64 %".60", %".62" , !dbg !32
  br i1 %".63", label %"if.then.2", label %"if.else.2", !dbg !32
for.step:
  %".74" = load i64, i64* %"range.i", align 8, !dbg !31
  %".75" = add i64 %".74", 3, !dbg !31
  store i64 %".75", i64* %"range.i", align 8, !dbg !31
  br label %"for.cond", !dbg !31
for.end:
  call void @"llvm.lifetime.end.p0"(i64* %"range.i"), !dbg !31
  call void @"llvm.lifetime.end.p0"(i64* %"range.stop"), !dbg !31
  call void @"llvm.lifetime.start.p0"(i64* %"range.i.1"), !dbg !35
  call void @"llvm.lifetime.start.p0"(i64* %"range.stop.1"), !dbg !35
  store i64 10, i64* %"range.i.1", align 8, !dbg !35
  store i64 0, i64* %"range.stop.1", align 8, !dbg !35
  br label %"for.cond.1", !dbg !35
if.then.2:
  br label %"for.end", !dbg !33
if.else.2:
  br label %"if.end.2", !dbg !33
if.end.2:
  %".67" = load i64, i64* %"total", align 8, !dbg !34
  %".68" = load i64, i64* %"j", align 8, !dbg !34
  %".69" = and i64 3, 63, !dbg !34
  %".70" = shl i64 %".68", %".69", !dbg !34
  %".71" = xor i64 %".67", %".70", !dbg !34
  store i64 %".71", i64* %"total", align 8, !dbg !34
  br label %"for.step", !dbg !34
for.cond.1:
  %".85" = load i64, i64* %"range.i.1", align 8, !dbg !35
  %".86" = load i64, i64* %"range.stop.1", align 8, !dbg !35
  %".87" = icmp sgt i64 %".85", %".86" , !dbg !35
  br i1 %".87", label %"for.body.1", label %"for.end.1", !dbg !35
for.body.1:
  store i64 %".85", i64* %"k", align 8, !dbg !35
  %".90" = load i64, i64* %"total", align 8, !dbg !36
  %".91" = load i64, i64* %"k", align 8, !dbg !36
  %".92" = add i64 %".90", %".91", !dbg !36
  store i64 %".92", i64* %"total", align 8, !dbg !36
  br label %"for.step.1", !dbg !36
for.step.1:
  %".95" = load i64, i64* %"range.i.1", align 8, !dbg !35
  %".96" = add i64 %".95", -2, !dbg !35
  store i64 %".96", i64* %"range.i.1", align 8, !dbg !35
  br label %"for.cond.1", !dbg !35
for.end.1:
  call void @"llvm.lifetime.end.p0"(i64* %"range.i.1"), !dbg !35
  call void @"llvm.lifetime.end.p0"(i64* %"range.stop.1"), !dbg !35
  %".101" = load i64, i64* %"total", align 8, !dbg !37
  %".102" = icmp ne i64 %".101", 0 , !dbg !37
  br i1 %".102", label %"bool.next.1", label %"bool.end.1", !dbg !37
ifx.then:
  %".110" = load i64, i64* %"total", align 8, !dbg !37
  br label %"ifx.end", !dbg !37
ifx.else:
  br label %"ifx.end", !dbg !37
ifx.end:
  %".113" = phi  i64 [%".110", %"ifx.then"], [7, %"ifx.else"] , !dbg !37
  ret i64 %".113", !dbg !37
bool.end.1:
  %".107" = phi  i64 [%".101", %"for.end.1"], [%".105", %"bool.next.1"] , !dbg !37
  %".108" = icmp ne i64 %".107", 0 , !dbg !37
  br i1 %".108", label %"ifx.then", label %"ifx.else", !dbg !37
bool.next.1:
  %".104" = load i32, i32* %"n", align 4, !dbg !37
  %".105" = zext i32 %".104" to i64 , !dbg !37
  br label %"bool.end.1", !dbg !37
}

declare void @"llvm.lifetime.start.p0"(ptr %".1")

declare void @"llvm.lifetime.end.p0"(ptr %".1")

@"_license" = global [4 x i8] c"GPL\00", section "license"
@"llvm.compiler.used" = appending global [1 x ptr] [[4 x i8]* @"_license"], section "llvm.metadata"
!llvm.dbg.cu = !{ !2 }
!llvm.module.flags = !{ !39, !40 }
!0 = !DIFile(directory: "/tmp/pybpf_dsl_harness_1hnzwlq2", filename: "entry_loops_7fcfe43fb950_0.py")
!1 = !{  }
!2 = distinct !DICompileUnit(emissionKind: FullDebug, file: !0, globals: !1, isOptimized: true, language: DW_LANG_C99, producer: "pybpf_dsl", runtimeVersion: 0)
!3 = !DIBasicType(encoding: DW_ATE_signed, name: "int", size: 32)
!4 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!5 = !{ !3, !4 }
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 10, name: "entry", scope: !0, scopeLine: 10, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !6, unit: !2, retainedNodes: !9)
!8 = !DILocalVariable(arg: 1, file: !0, line: 10, name: "ctx", scope: !7, type: !4)
!9 = !{ !8 }
!10 = !DILocation(column: 1, line: 10, scope: !7)
!11 = !DILocation(column: 5, line: 11, scope: !7)
!12 = !DIFile(directory: "/work/main/tests/dsl", filename: "test_semantics.py")
!13 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned long long", size: 64)
!14 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned int", size: 32)
!15 = !{ !13, !14, !14 }
!16 = !DISubroutineType(types: !15)
!17 = distinct !DISubprogram(file: !12, flags: DIFlagPrototyped, line: 69, name: "loops", scope: !12, scopeLine: 69, spFlags: DISPFlagDefinition | DISPFlagOptimized | DISPFlagLocalToUnit, type: !16, unit: !2, retainedNodes: !20)
!18 = !DILocalVariable(arg: 1, file: !12, line: 69, name: "n", scope: !17, type: !14)
!19 = !DILocalVariable(arg: 2, file: !12, line: 69, name: "stop", scope: !17, type: !14)
!20 = !{ !18, !19 }
!21 = !DILocation(column: 1, line: 69, scope: !17)
!22 = !DILocation(column: 5, line: 70, scope: !17)
!23 = !DILocation(column: 5, line: 71, scope: !17)
!24 = !DILocation(column: 5, line: 72, scope: !17)
!25 = !DILocation(column: 9, line: 73, scope: !17)
!26 = !DILocation(column: 9, line: 74, scope: !17)
!27 = !DILocation(column: 13, line: 75, scope: !17)
!28 = !DILocation(column: 9, line: 76, scope: !17)
!29 = !DILocation(column: 13, line: 77, scope: !17)
!30 = !DILocation(column: 9, line: 78, scope: !17)
!31 = !DILocation(column: 5, line: 79, scope: !17)
!32 = !DILocation(column: 9, line: 80, scope: !17)
!33 = !DILocation(column: 13, line: 81, scope: !17)
!34 = !DILocation(column: 9, line: 82, scope: !17)
!35 = !DILocation(column: 5, line: 83, scope: !17)
!36 = !DILocation(column: 9, line: 84, scope: !17)
!37 = !DILocation(column: 5, line: 85, scope: !17)
!38 = !DILocation(column: 5, line: 12, scope: !7)
!39 = !{ i32 7, !"Dwarf Version", i32 5 }
!40 = !{ i32 2, !"Debug Info Version", i32 3 }
; ---- next module ----
; ModuleID = "entry"
target triple = "bpfel"
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

define i32 @"entry"(ptr %"ctx.arg") section "syscall" !dbg !7
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !10
  store ptr null, ptr %"ctx", align 8, !dbg !10
  br label %"body", !dbg !45
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !10
  %".5" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".6" = getelementptr i8, ptr %".5", i64 0 , !dbg !11
  %".7" = load i64, ptr %".6", align 8, !dbg !11
  %".8" = trunc i64 %".7" to i16 , !dbg !11
  %".9" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".10" = getelementptr i8, ptr %".9", i64 8 , !dbg !11
  %".11" = load i64, ptr %".10", align 8, !dbg !11
  %".12" = trunc i64 %".11" to i32 , !dbg !11
  %".13" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".14" = getelementptr i8, ptr %".13", i64 16 , !dbg !11
  %".15" = load i64, ptr %".14", align 8, !dbg !11
  %".16" = trunc i64 %".15" to i32 , !dbg !11
  %".17" = call i64 @"structs"(i16 %".8", i32 %".12", i32 %".16"), !dbg !11
  %".18" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".19" = getelementptr i8, ptr %".18", i64 24 , !dbg !11
  store i64 %".17", ptr %".19", align 8, !dbg !11
  %".21" = trunc i64 0 to i32 , !dbg !45
  ret i32 %".21", !dbg !45
}

define internal i64 @"structs"(i16 %"a.arg", i32 %"b.arg", i32 %"i.arg") alwaysinline !dbg !18
{
entry:
  %"a" = alloca i16, align 2, !dbg !23
  store i16 0, i16* %"a", align 2, !dbg !23
  %"b" = alloca i32, align 4, !dbg !23
  store i32 0, i32* %"b", align 4, !dbg !23
  %"i" = alloca i32, align 4, !dbg !23
  store i32 0, i32* %"i", align 4, !dbg !23
  %"box" = alloca [40 x i8], align 8, !dbg !23
  %"arr" = alloca [24 x i8], align 8, !dbg !23
  %"k" = alloca i64, align 8, !dbg !23
  store i64 0, i64* %"k", align 8, !dbg !23
  %"t" = alloca i32, align 4, !dbg !23
  store i32 0, i32* %"t", align 4, !dbg !23
  %"range.i" = alloca i64, align 8, !dbg !30
  %"range.stop" = alloca i64, align 8, !dbg !30
  %"idx.scratch" = alloca i32, align 4, !dbg !31
  %"idx.scratch.1" = alloca i8, align 1, !dbg !32
  %"idx.scratch.2" = alloca i32, align 4, !dbg !34
  %"idx.scratch.3" = alloca i32, align 4, !dbg !34
  %"idx.scratch.4" = alloca i8, align 1, !dbg !35
  %"idx.scratch.5" = alloca i8, align 1, !dbg !35
  br label %"body", !dbg !36
body:
  store i16 %"a.arg", i16* %"a", align 2, !dbg !23
  store i32 %"b.arg", i32* %"b", align 4, !dbg !23
  store i32 %"i.arg", i32* %"i", align 4, !dbg !23
  call void @"llvm.lifetime.start.p0"([40 x i8]* %"box"), !dbg !24
  call void @"llvm.memset.p0.i64"([40 x i8]* align 8 %"box", i8 0, i64 40, i1 0), !dbg !24
  %".15" = load i16, i16* %"a", align 2, !dbg !25
  %".16" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !25
  %".17" = getelementptr i8, [40 x i8]* %".16", i64 0 , !dbg !25
  store i16 %".15", [40 x i8]* %".17", align 2, !dbg !25
  %".19" = load i32, i32* %"b", align 4, !dbg !26
  %".20" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !26
  %".21" = getelementptr i8, [40 x i8]* %".20", i64 4 , !dbg !26
  store i32 %".19", [40 x i8]* %".21", align 4, !dbg !26
  %".23" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !27
  %".24" = getelementptr i8, [40 x i8]* %"box", i64 16 , !dbg !27
  %".25" = load i64, [40 x i8]* %".23", align 8, !dbg !27
  store i64 %".25", [40 x i8]* %".24", align 8, !dbg !27
  %".27" = getelementptr i8, [40 x i8]* %".23", i64 8 , !dbg !27
  %".28" = getelementptr i8, [40 x i8]* %".24", i64 8 , !dbg !27
  %".29" = load i64, [40 x i8]* %".27", align 8, !dbg !27
  store i64 %".29", [40 x i8]* %".28", align 8, !dbg !27
  %".31" = getelementptr i8, [40 x i8]* %"box", i64 16 , !dbg !28
  %".32" = getelementptr i8, [40 x i8]* %".31", i64 0 , !dbg !28
  %".33" = load i16, [40 x i8]* %".32", align 2, !dbg !28
  %".34" = sext i16 %".33" to i32 , !dbg !28
  %".35" = add i32 %".34", 1, !dbg !28
  %".36" = trunc i32 %".35" to i16 , !dbg !28
  store i16 %".36", [40 x i8]* %".32", align 2, !dbg !28
  call void @"llvm.lifetime.start.p0"([24 x i8]* %"arr"), !dbg !29
  call void @"llvm.memset.p0.i64"([24 x i8]* align 8 %"arr", i8 0, i64 24, i1 0), !dbg !29
  call void @"llvm.lifetime.start.p0"(i64* %"range.i"), !dbg !30
  call void @"llvm.lifetime.start.p0"(i64* %"range.stop"), !dbg !30
  store i64 0, i64* %"range.i", align 8, !dbg !30
  store i64 6, i64* %"range.stop", align 8, !dbg !30
  br label %"for.cond", !dbg !30
for.cond:
  %".45" = load i64, i64* %"range.i", align 8, !dbg !30
  %".46" = load i64, i64* %"range.stop", align 8, !dbg !30
  %".47" = icmp slt i64 %".45", %".46" , !dbg !30
  br i1 %".47", label %"for.body", label %"for.end", !dbg !30
for.body:
  store i64 %".45", i64* %"k", align 8, !dbg !30
  %".50" = load i64, i64* %"k", align 8, !dbg !31
  %".51" = load i32, i32* %"b", align 4, !dbg !31
  %".52" = zext i32 %".51" to i64 , !dbg !31
  %".53" = mul i64 %".50", %".52", !dbg !31
  %".54" = trunc i64 %".53" to i32 , !dbg !31
  %".55" = load i64, i64* %"k", align 8, !dbg !31
  %".56" = call i64 asm  "", "=r,0"(i64 %".55"), !dbg !31
  %".57" = icmp ult i64 %".56", 6 , !dbg !31
  call void @"llvm.lifetime.start.p0"(i32* %"idx.scratch"), !dbg !31
  br i1 %".57", label %"idx.ok", label %"idx.out", !dbg !31
for.step:
  %".70" = load i64, i64* %"range.i", align 8, !dbg !30
  %".71" = add i64 %".70", 1, !dbg !30
  store i64 %".71", i64* %"range.i", align 8, !dbg !30
  br label %"for.cond", !dbg !30
for.end:
  call void @"llvm.lifetime.end.p0"(i64* %"range.i"), !dbg !30
  call void @"llvm.lifetime.end.p0"(i64* %"range.stop"), !dbg !30
  %".76" = load i32, i32* %"i", align 4, !dbg !32
  %".77" = add i32 200, %".76", !dbg !32
  %".78" = trunc i32 %".77" to i8 , !dbg !32
  %".79" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !32
  %".80" = getelementptr i8, [40 x i8]* %".79", i64 8 , !dbg !32
  %".81" = load i32, i32* %"i", align 4, !dbg !32
  %".82" = zext i32 %".81" to i64 , !dbg !32
  %".83" = call i64 asm  "", "=r,0"(i64 %".82"), !dbg !32
  %".84" = icmp ult i64 %".83", 5 , !dbg !32
  call void @"llvm.lifetime.start.p0"(i8* %"idx.scratch.1"), !dbg !32
  br i1 %".84", label %"idx.ok.1", label %"idx.out.1", !dbg !32
idx.ok:
  %".60" = call i64 asm  "", "=r,0"(i64 %".56"), !dbg !31
  %".61" = mul i64 %".60", 4, !dbg !31
  %".62" = getelementptr i8, [24 x i8]* %"arr", i64 %".61" , !dbg !31
  br label %"idx.end", !dbg !31
idx.out:
  store i32 0, i32* %"idx.scratch", align 4, !dbg !31
  br label %"idx.end", !dbg !31
idx.end:
  %".66" = phi  ptr [%".62", %"idx.ok"], [%"idx.scratch", %"idx.out"] , !dbg !31
  store i32 %".54", ptr %".66", align 4, !dbg !31
  call void @"llvm.lifetime.end.p0"(i32* %"idx.scratch"), !dbg !31
  br label %"for.step", !dbg !31
idx.ok.1:
  %".87" = call i64 asm  "", "=r,0"(i64 %".83"), !dbg !32
  %".88" = mul i64 %".87", 1, !dbg !32
  %".89" = getelementptr i8, [40 x i8]* %".80", i64 %".88" , !dbg !32
  br label %"idx.end.1", !dbg !32
idx.out.1:
  store i8 0, i8* %"idx.scratch.1", align 1, !dbg !32
  br label %"idx.end.1", !dbg !32
idx.end.1:
  %".93" = phi  ptr [%".89", %"idx.ok.1"], [%"idx.scratch.1", %"idx.out.1"] , !dbg !32
  store i8 %".78", ptr %".93", align 1, !dbg !32
  call void @"llvm.lifetime.end.p0"(i8* %"idx.scratch.1"), !dbg !32
  %".96" = load i16, i16* %"a", align 2, !dbg !33
  %".97" = sext i16 %".96" to i32 , !dbg !33
  %".98" = icmp sgt i32 %".97", 0 , !dbg !33
  %".99" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !33
  %".100" = getelementptr i8, [40 x i8]* %".99", i64 13 , !dbg !33
  %".101" = zext i1 %".98" to i8 , !dbg !33
  store i8 %".101", [40 x i8]* %".100", align 1, !dbg !33
  %".103" = load i32, i32* %"i", align 4, !dbg !34
  %".104" = zext i32 %".103" to i64 , !dbg !34
  %".105" = call i64 asm  "", "=r,0"(i64 %".104"), !dbg !34
  %".106" = icmp ult i64 %".105", 6 , !dbg !34
  call void @"llvm.lifetime.start.p0"(i32* %"idx.scratch.2"), !dbg !34
  br i1 %".106", label %"idx.ok.2", label %"idx.out.2", !dbg !34
idx.ok.2:
  %".109" = call i64 asm  "", "=r,0"(i64 %".105"), !dbg !34
  %".110" = mul i64 %".109", 4, !dbg !34
  %".111" = getelementptr i8, [24 x i8]* %"arr", i64 %".110" , !dbg !34
  br label %"idx.end.2", !dbg !34
idx.out.2:
  store i32 0, i32* %"idx.scratch.2", align 4, !dbg !34
  br label %"idx.end.2", !dbg !34
idx.end.2:
  %".115" = phi  ptr [%".111", %"idx.ok.2"], [%"idx.scratch.2", %"idx.out.2"] , !dbg !34
  %".116" = load i32, ptr %".115", align 4, !dbg !34
  %".117" = load i32, i32* %"i", align 4, !dbg !34
  %".118" = icmp eq i32 6, 0 , !dbg !34
  %".119" = select  i1 %".118", i32 1, i32 6 , !dbg !34
  %".120" = urem i32 %".117", %".119", !dbg !34
  %".121" = select  i1 %".118", i32 %".117", i32 %".120" , !dbg !34
  %".122" = zext i32 %".121" to i64 , !dbg !34
  %".123" = call i64 asm  "", "=r,0"(i64 %".122"), !dbg !34
  %".124" = icmp ult i64 %".123", 6 , !dbg !34
  call void @"llvm.lifetime.start.p0"(i32* %"idx.scratch.3"), !dbg !34
  br i1 %".124", label %"idx.ok.3", label %"idx.out.3", !dbg !34
idx.ok.3:
  %".127" = call i64 asm  "", "=r,0"(i64 %".123"), !dbg !34
  %".128" = mul i64 %".127", 4, !dbg !34
  %".129" = getelementptr i8, [24 x i8]* %"arr", i64 %".128" , !dbg !34
  br label %"idx.end.3", !dbg !34
idx.out.3:
  store i32 0, i32* %"idx.scratch.3", align 4, !dbg !34
  br label %"idx.end.3", !dbg !34
idx.end.3:
  %".133" = phi  ptr [%".129", %"idx.ok.3"], [%"idx.scratch.3", %"idx.out.3"] , !dbg !34
  %".134" = load i32, ptr %".133", align 4, !dbg !34
  %".135" = add i32 %".116", %".134", !dbg !34
  %".136" = zext i32 %".135" to i64 , !dbg !34
  %".137" = getelementptr i8, [40 x i8]* %"box", i64 32 , !dbg !34
  store i64 %".136", [40 x i8]* %".137", align 8, !dbg !34
  call void @"llvm.lifetime.end.p0"(i32* %"idx.scratch.2"), !dbg !34
  call void @"llvm.lifetime.end.p0"(i32* %"idx.scratch.3"), !dbg !34
  %".141" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !35
  %".142" = getelementptr i8, [40 x i8]* %".141", i64 8 , !dbg !35
  %".143" = load i32, i32* %"i", align 4, !dbg !35
  %".144" = icmp eq i32 5, 0 , !dbg !35
  %".145" = select  i1 %".144", i32 1, i32 5 , !dbg !35
  %".146" = urem i32 %".143", %".145", !dbg !35
  %".147" = select  i1 %".144", i32 %".143", i32 %".146" , !dbg !35
  %".148" = zext i32 %".147" to i64 , !dbg !35
  %".149" = call i64 asm  "", "=r,0"(i64 %".148"), !dbg !35
  %".150" = icmp ult i64 %".149", 5 , !dbg !35
  call void @"llvm.lifetime.start.p0"(i8* %"idx.scratch.4"), !dbg !35
  br i1 %".150", label %"idx.ok.4", label %"idx.out.4", !dbg !35
idx.ok.4:
  %".153" = call i64 asm  "", "=r,0"(i64 %".149"), !dbg !35
  %".154" = mul i64 %".153", 1, !dbg !35
  %".155" = getelementptr i8, [40 x i8]* %".142", i64 %".154" , !dbg !35
  br label %"idx.end.4", !dbg !35
idx.out.4:
  store i8 0, i8* %"idx.scratch.4", align 1, !dbg !35
  br label %"idx.end.4", !dbg !35
idx.end.4:
  %".159" = phi  ptr [%".155", %"idx.ok.4"], [%"idx.scratch.4", %"idx.out.4"] , !dbg !35
  %".160" = load i8, ptr %".159", align 1, !dbg !35
  %".161" = zext i8 %".160" to i32 , !dbg !35
  %".162" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !35
  %".163" = getelementptr i8, [40 x i8]* %".162", i64 8 , !dbg !35
  %".164" = load i32, i32* %"i", align 4, !dbg !35
  %".165" = zext i32 %".164" to i64 , !dbg !35
  %".166" = call i64 asm  "", "=r,0"(i64 %".165"), !dbg !35
  %".167" = icmp ult i64 %".166", 5 , !dbg !35
  call void @"llvm.lifetime.start.p0"(i8* %"idx.scratch.5"), !dbg !35
  br i1 %".167", label %"idx.ok.5", label %"idx.out.5", !dbg !35
idx.ok.5:
  %".170" = call i64 asm  "", "=r,0"(i64 %".166"), !dbg !35
  %".171" = mul i64 %".170", 1, !dbg !35
  %".172" = getelementptr i8, [40 x i8]* %".163", i64 %".171" , !dbg !35
  br label %"idx.end.5", !dbg !35
idx.out.5:
  store i8 0, i8* %"idx.scratch.5", align 1, !dbg !35
  br label %"idx.end.5", !dbg !35
idx.end.5:
  %".176" = phi  ptr [%".172", %"idx.ok.5"], [%"idx.scratch.5", %"idx.out.5"] , !dbg !35
  %".177" = load i8, ptr %".176", align 1, !dbg !35
  %".178" = zext i8 %".177" to i32 , !dbg !35
  %".179" = add i32 %".161", %".178", !dbg !35
  store i32 %".179", i32* %"t", align 4, !dbg !35
  call void @"llvm.lifetime.end.p0"(i8* %"idx.scratch.4"), !dbg !35
  call void @"llvm.lifetime.end.p0"(i8* %"idx.scratch.5"), !dbg !35
  %".183" = getelementptr i8, [40 x i8]* %"box", i64 16 , !dbg !36
  %".184" = getelementptr i8, [40 x i8]* %".183", i64 0 , !dbg !36
  %".185" = load i16, [40 x i8]* %".184", align 2, !dbg !36
  %".186" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !36
  %".187" = getelementptr i8, [40 x i8]* %".186", i64 4 , !dbg !36
  %".188" = load i32, [40 x i8]* %".187", align 4, !dbg !36
  %".189" = call i64 @"norm1"(i16 %".185", i32 %".188"), !dbg !36
  %".190" = getelementptr i8, [40 x i8]* %"box", i64 32 , !dbg !36
  %".191" = load i64, [40 x i8]* %".190", align 8, !dbg !36
  %".192" = add i64 %".189", %".191", !dbg !36
  %".193" = load i32, i32* %"t", align 4, !dbg !36
  %".194" = sext i32 %".193" to i64 , !dbg !36
  %".195" = add i64 %".192", %".194", !dbg !36
  %".196" = getelementptr i8, [40 x i8]* %"box", i64 0 , !dbg !36
  %".197" = getelementptr i8, [40 x i8]* %".196", i64 13 , !dbg !36
  %".198" = load i8, [40 x i8]* %".197", align 1, !dbg !36
  %".199" = trunc i8 %".198" to i1 , !dbg !36
  %".200" = zext i1 %".199" to i64 , !dbg !36
  %".201" = add i64 %".195", %".200", !dbg !36
  %".202" = add i64 %".201", 6, !dbg !36
  ret i64 %".202", !dbg !36
}

declare void @"llvm.lifetime.start.p0"(ptr %".1")

declare void @"llvm.memset.p0.i64"(ptr %".1", i8 %".2", i64 %".3", i1 %".4")

declare void @"llvm.lifetime.end.p0"(ptr %".1")

define internal i64 @"norm1"(i16 %"p.arg", i32 %"q.arg") alwaysinline !dbg !39
{
entry:
  %"p" = alloca i16, align 2, !dbg !43
  store i16 0, i16* %"p", align 2, !dbg !43
  %"q" = alloca i32, align 4, !dbg !43
  store i32 0, i32* %"q", align 4, !dbg !43
  br label %"body", !dbg !44
body:
  store i16 %"p.arg", i16* %"p", align 2, !dbg !43
  store i32 %"q.arg", i32* %"q", align 4, !dbg !43
  %".8" = load i16, i16* %"p", align 2, !dbg !44
  %".9" = sext i16 %".8" to i32 , !dbg !44
  %".10" = icmp slt i32 %".9", 0 , !dbg !44
  %".11" = sub i32 0, %".9", !dbg !44
  %".12" = select  i1 %".10", i32 %".11", i32 %".9" , !dbg !44
  %".13" = load i32, i32* %"q", align 4, !dbg !44
  %".14" = add i32 %".12", %".13", !dbg !44
  %".15" = zext i32 %".14" to i64 , !dbg !44
  ret i64 %".15", !dbg !44
}

@"_license" = global [4 x i8] c"GPL\00", section "license"
@"llvm.compiler.used" = appending global [1 x ptr] [[4 x i8]* @"_license"], section "llvm.metadata"
!llvm.dbg.cu = !{ !2 }
!llvm.module.flags = !{ !46, !47 }
!0 = !DIFile(directory: "/tmp/pybpf_dsl_harness_1hnzwlq2", filename: "entry_structs_7fcfe4250d50_0.py")
!1 = !{  }
!2 = distinct !DICompileUnit(emissionKind: FullDebug, file: !0, globals: !1, isOptimized: true, language: DW_LANG_C99, producer: "pybpf_dsl", runtimeVersion: 0)
!3 = !DIBasicType(encoding: DW_ATE_signed, name: "int", size: 32)
!4 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!5 = !{ !3, !4 }
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 11, name: "entry", scope: !0, scopeLine: 11, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !6, unit: !2, retainedNodes: !9)
!8 = !DILocalVariable(arg: 1, file: !0, line: 11, name: "ctx", scope: !7, type: !4)
!9 = !{ !8 }
!10 = !DILocation(column: 1, line: 11, scope: !7)
!11 = !DILocation(column: 5, line: 12, scope: !7)
!12 = !DIFile(directory: "/work/main/tests/dsl", filename: "test_semantics.py")
!13 = !DIBasicType(encoding: DW_ATE_signed, name: "long long", size: 64)
!14 = !DIBasicType(encoding: DW_ATE_signed, name: "short", size: 16)
!15 = !DIBasicType(encoding: DW_ATE_unsigned, name: "unsigned int", size: 32)
!16 = !{ !13, !14, !15, !15 }
!17 = !DISubroutineType(types: !16)
!18 = distinct !DISubprogram(file: !12, flags: DIFlagPrototyped, line: 134, name: "structs", scope: !12, scopeLine: 134, spFlags: DISPFlagDefinition | DISPFlagOptimized | DISPFlagLocalToUnit, type: !17, unit: !2, retainedNodes: !22)
!19 = !DILocalVariable(arg: 1, file: !12, line: 134, name: "a", scope: !18, type: !14)
!20 = !DILocalVariable(arg: 2, file: !12, line: 134, name: "b", scope: !18, type: !15)
!21 = !DILocalVariable(arg: 3, file: !12, line: 134, name: "i", scope: !18, type: !15)
!22 = !{ !19, !20, !21 }
!23 = !DILocation(column: 1, line: 134, scope: !18)
!24 = !DILocation(column: 5, line: 135, scope: !18)
!25 = !DILocation(column: 5, line: 136, scope: !18)
!26 = !DILocation(column: 5, line: 137, scope: !18)
!27 = !DILocation(column: 5, line: 138, scope: !18)
!28 = !DILocation(column: 5, line: 139, scope: !18)
!29 = !DILocation(column: 5, line: 140, scope: !18)
!30 = !DILocation(column: 5, line: 141, scope: !18)
!31 = !DILocation(column: 9, line: 142, scope: !18)
!32 = !DILocation(column: 5, line: 143, scope: !18)
!33 = !DILocation(column: 5, line: 144, scope: !18)
!34 = !DILocation(column: 5, line: 145, scope: !18)
!35 = !DILocation(column: 5, line: 146, scope: !18)
!36 = !DILocation(column: 5, line: 147, scope: !18)
!37 = !{ !13, !14, !15 }
!38 = !DISubroutineType(types: !37)
!39 = distinct !DISubprogram(file: !12, flags: DIFlagPrototyped, line: 129, name: "norm1", scope: !12, scopeLine: 129, spFlags: DISPFlagDefinition | DISPFlagOptimized | DISPFlagLocalToUnit, type: !38, unit: !2, retainedNodes: !42)
!40 = !DILocalVariable(arg: 1, file: !12, line: 129, name: "p", scope: !39, type: !14)
!41 = !DILocalVariable(arg: 2, file: !12, line: 129, name: "q", scope: !39, type: !15)
!42 = !{ !40, !41 }
!43 = !DILocation(column: 1, line: 129, scope: !39)
!44 = !DILocation(column: 5, line: 130, scope: !39)
!45 = !DILocation(column: 5, line: 13, scope: !7)
!46 = !{ i32 7, !"Dwarf Version", i32 5 }
!47 = !{ i32 2, !"Debug Info Version", i32 3 }
; ---- next module ----
; ModuleID = "entry"
target triple = "bpfel"
target datalayout = "e-m:e-p:64:64-i64:64-i128:128-n32:64-S128"

define i32 @"entry"(ptr %"ctx.arg") section "syscall" !dbg !7
{
entry:
  %"ctx" = alloca ptr, align 8, !dbg !10
  store ptr null, ptr %"ctx", align 8, !dbg !10
  br label %"body", !dbg !25
body:
  store ptr %"ctx.arg", ptr %"ctx", align 8, !dbg !10
  %".5" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".6" = getelementptr i8, ptr %".5", i64 0 , !dbg !11
  %".7" = load i64, ptr %".6", align 8, !dbg !11
  %".8" = trunc i64 %".7" to i32 , !dbg !11
  %".9" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".10" = getelementptr i8, ptr %".9", i64 8 , !dbg !11
  %".11" = load i64, ptr %".10", align 8, !dbg !11
  %".12" = trunc i64 %".11" to i32 , !dbg !11
  %".13" = call i32 @"bools"(i32 %".8", i32 %".12"), !dbg !11
  %".14" = sext i32 %".13" to i64 , !dbg !11
  %".15" = load ptr, ptr %"ctx", align 8, !dbg !11
  %".16" = getelementptr i8, ptr %".15", i64 16 , !dbg !11
  store i64 %".14", ptr %".16", align 8, !dbg !11
  %".18" = trunc i64 0 to i32 , !dbg !25
  ret i32 %".18", !dbg !25
}

define internal i32 @"bools"(i32 %"a.arg", i32 %"b.arg") alwaysinline !dbg !15
{
entry:
  %"a" = alloca i32, align 4, !dbg !19
  store i32 0, i32* %"a", align 4, !dbg !19
  %"b" = alloca i32, align 4, !dbg !19
  store i32 0, i32* %"b", align 4, !dbg !19
  %"x" = alloca i32, align 4, !dbg !19
  store i32 0, i32* %"x", align 4, !dbg !19
  %"y" = alloca i32, align 4, !dbg !19
  store i32 0, i32* %"y", align 4, !dbg !19
  %"z" = alloca i8, align 1, !dbg !19
  store i8 0, i8* %"z", align 1, !dbg !19
  %"w" = alloca i8, align 1, !dbg !19
  store i8 0, i8* %"w", align 1, !dbg !19
  br label %"body", !dbg !24
body:
  store i32 %"a.arg", i32* %"a", align 4, !dbg !19
  store i32 %"b.arg", i32* %"b", align 4, !dbg !19
  %".12" = load i32, i32* %"a", align 4, !dbg !20
  %".13" = icmp ne i32 %".12", 0 , !dbg !20
  br i1 %".13", label %"bool.next", label %"bool.end", !dbg !20
bool.end:
  %".17" = phi  i32 [%".12", %"body"], [%".15", %"bool.next"] , !dbg !20
  store i32 %".17", i32* %"x", align 4, !dbg !20
  %".19" = load i32, i32* %"a", align 4, !dbg !21
  %".20" = icmp ne i32 %".19", 0 , !dbg !21
  br i1 %".20", label %"bool.end.1", label %"bool.next.1", !dbg !21
bool.next:
  %".15" = load i32, i32* %"b", align 4, !dbg !20
  br label %"bool.end", !dbg !20
bool.end.1:
  %".24" = phi  i32 [%".19", %"bool.end"], [%".22", %"bool.next.1"] , !dbg !21
  store i32 %".24", i32* %"y", align 4, !dbg !21
  %".26" = load i32, i32* %"a", align 4, !dbg !22
  %".27" = icmp ne i32 %".26", 0 , !dbg !22
  %".28" = xor i1 %".27", 1, !dbg !22
  %".29" = zext i1 %".28" to i8 , !dbg !22
  store i8 %".29", i8* %"z", align 1, !dbg !22
  %".31" = load i32, i32* %"a", align 4, !dbg !23
  %".32" = icmp slt i32 0, %".31" , !dbg !23
  br i1 %".32", label %"cmp.next", label %"cmp.end", !dbg !23
bool.next.1:
  %".22" = load i32, i32* %"b", align 4, !dbg !21
  br label %"bool.end.1", !dbg !21
cmp.end:
  %".39" = phi  i1 [%".32", %"bool.end.1"], [%".35", %"cmp.next"], [%".37", %"cmp.next.1"] , !dbg !23
  %".40" = zext i1 %".39" to i8 , !dbg !23
  store i8 %".40", i8* %"w", align 1, !dbg !23
  %".42" = load i32, i32* %"x", align 4, !dbg !24
  %".43" = mul i32 %".42", 5, !dbg !24
  %".44" = load i32, i32* %"y", align 4, !dbg !24
  %".45" = mul i32 %".44", 3, !dbg !24
  %".46" = add i32 %".43", %".45", !dbg !24
  %".47" = load i8, i8* %"z", align 1, !dbg !24
  %".48" = trunc i8 %".47" to i1 , !dbg !24
  %".49" = zext i1 %".48" to i32 , !dbg !24
  %".50" = add i32 %".46", %".49", !dbg !24
  %".51" = load i8, i8* %"w", align 1, !dbg !24
  %".52" = trunc i8 %".51" to i1 , !dbg !24
  %".53" = zext i1 %".52" to i32 , !dbg !24
  %".54" = mul i32 %".53", 1000, !dbg !24
  %".55" = add i32 %".50", %".54", !dbg !24
  %".56" = load i32, i32* %"a", align 4, !dbg !24
  %".57" = load i32, i32* %"b", align 4, !dbg !24
  %".58" = icmp sgt i32 %".56", %".57" , !dbg !24
  br i1 %".58", label %"ifx.then", label %"ifx.else", !dbg !24
cmp.next:
  %".34" = load i32, i32* %"b", align 4, !dbg !23
  %".35" = icmp slt i32 %".31", %".34" , !dbg !23
  br i1 %".35", label %"cmp.next.1", label %"cmp.end", !dbg !23
cmp.next.1:
  %".37" = icmp slt i32 %".34", 100 , !dbg !23
  br label %"cmp.end", !dbg !23
ifx.then:
  %".60" = load i32, i32* %"a", align 4, !dbg !24
  %".61" = load i32, i32* %"b", align 4, !dbg !24
  %".62" = icmp slt i32 %".60", %".61" , !dbg !24
  %".63" = select  i1 %".62", i32 %".60", i32 %".61" , !dbg !24
  br label %"ifx.end", !dbg !24
ifx.else:
  %".65" = load i32, i32* %"a", align 4, !dbg !24
  %".66" = load i32, i32* %"b", align 4, !dbg !24
  %".67" = icmp sgt i32 %".65", %".66" , !dbg !24
  %".68" = select  i1 %".67", i32 %".65", i32 %".66" , !dbg !24
  br label %"ifx.end", !dbg !24
ifx.end:
  %".70" = phi  i32 [%".63", %"ifx.then"], [%".68", %"ifx.else"] , !dbg !24
  %".71" = add i32 %".55", %".70", !dbg !24
  %".72" = load i32, i32* %"a", align 4, !dbg !24
  %".73" = icmp slt i32 %".72", 0 , !dbg !24
  %".74" = sub i32 0, %".72", !dbg !24
  %".75" = select  i1 %".73", i32 %".74", i32 %".72" , !dbg !24
  %".76" = icmp eq i32 7, 0 , !dbg !24
  %".77" = select  i1 %".76", i32 1, i32 7 , !dbg !24
  %".78" = icmp slt i32 %".75", 0 , !dbg !24
  %".79" = icmp slt i32 %".77", 0 , !dbg !24
  %".80" = sub i32 0, %".75", !dbg !24
  %".81" = select  i1 %".78", i32 %".80", i32 %".75" , !dbg !24
  %".82" = sub i32 0, %".77", !dbg !24
  %".83" = select  i1 %".79", i32 %".82", i32 %".77" , !dbg !24
  %".84" = urem i32 %".81", %".83", !dbg !24
  %".85" = sub i32 0, %".84", !dbg !24
  %".86" = select  i1 %".78", i32 %".85", i32 %".84" , !dbg !24
  %".87" = select  i1 %".76", i32 %".75", i32 %".86" , !dbg !24
  %".88" = add i32 %".71", %".87", !dbg !24
  ret i32 %".88", !dbg !24
}

@"_license" = global [4 x i8] c"GPL\00", section "license"
@"llvm.compiler.used" = appending global [1 x ptr] [[4 x i8]* @"_license"], section "llvm.metadata"
!llvm.dbg.cu = !{ !2 }
!llvm.module.flags = !{ !26, !27 }
!0 = !DIFile(directory: "/tmp/pybpf_dsl_harness_1hnzwlq2", filename: "entry_bools_7fcfe43e4e10_0.py")
!1 = !{  }
!2 = distinct !DICompileUnit(emissionKind: FullDebug, file: !0, globals: !1, isOptimized: true, language: DW_LANG_C99, producer: "pybpf_dsl", runtimeVersion: 0)
!3 = !DIBasicType(encoding: DW_ATE_signed, name: "int", size: 32)
!4 = !DIDerivedType(baseType: null, size: 64, tag: DW_TAG_pointer_type)
!5 = !{ !3, !4 }
!6 = !DISubroutineType(types: !5)
!7 = distinct !DISubprogram(file: !0, flags: DIFlagPrototyped, line: 10, name: "entry", scope: !0, scopeLine: 10, spFlags: DISPFlagDefinition | DISPFlagOptimized, type: !6, unit: !2, retainedNodes: !9)
!8 = !DILocalVariable(arg: 1, file: !0, line: 10, name: "ctx", scope: !7, type: !4)
!9 = !{ !8 }
!10 = !DILocation(column: 1, line: 10, scope: !7)
!11 = !DILocation(column: 5, line: 11, scope: !7)
!12 = !DIFile(directory: "/work/main/tests/dsl", filename: "test_semantics.py")
!13 = !{ !3, !3, !3 }
!14 = !DISubroutineType(types: !13)
!15 = distinct !DISubprogram(file: !12, flags: DIFlagPrototyped, line: 89, name: "bools", scope: !12, scopeLine: 89, spFlags: DISPFlagDefinition | DISPFlagOptimized | DISPFlagLocalToUnit, type: !14, unit: !2, retainedNodes: !18)
!16 = !DILocalVariable(arg: 1, file: !12, line: 89, name: "a", scope: !15, type: !3)
!17 = !DILocalVariable(arg: 2, file: !12, line: 89, name: "b", scope: !15, type: !3)
!18 = !{ !16, !17 }
!19 = !DILocation(column: 1, line: 89, scope: !15)
!20 = !DILocation(column: 5, line: 90, scope: !15)
!21 = !DILocation(column: 5, line: 91, scope: !15)
!22 = !DILocation(column: 5, line: 92, scope: !15)
!23 = !DILocation(column: 5, line: 93, scope: !15)
!24 = !DILocation(column: 5, line: 94, scope: !15)
!25 = !DILocation(column: 5, line: 12, scope: !7)
!26 = !{ i32 7, !"Dwarf Version", i32 5 }
!27 = !{ i32 2, !"Debug Info Version", i32 3 }