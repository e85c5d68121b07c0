/* compat_c: packet headers for bcc's cursor style of packet parsing.
 *
 * A struct marked BPF_PACKET_HEADER describes bytes of the packet, not of
 * memory: with `u8 *cursor = 0;` and `struct udp_t *udp =
 * cursor_advance(cursor, sizeof(*udp));`, reading `udp->dport` loads the
 * two bytes at packet offset udp + 2 in network order (BPF_LD_ABS/IND) and
 * assigning it stores them back (bpf_skb_store_bytes, tc programs only).
 * Bits are numbered from the most significant bit of a field's first byte,
 * in declaration order.  compat_c.packet does this on the compiled IR.
 */
#ifndef __BCC_PROTO_H
#define __BCC_PROTO_H

#define BPF_PACKET_HEADER \
  __attribute__((packed, preserve_access_index, btf_decl_tag("bcc_packet")))

/* Ethernet II (IEEE 802.3): 14 bytes. */
struct ethernet_t {
  unsigned long long dst : 48;            /* destination MAC */
  unsigned long long src : 48;            /* source MAC */
  unsigned int type : 16;                 /* EtherType, e.g. ETH_P_IP */
} BPF_PACKET_HEADER;

/* IEEE 802.1Q VLAN tag after the MAC addresses: 4 bytes. */
struct dot1q_t {
  unsigned short pri : 3;                 /* priority code point */
  unsigned short cfi : 1;                 /* drop eligible / canonical format */
  unsigned short vlanid : 12;
  unsigned short type;                    /* EtherType of the payload */
} BPF_PACKET_HEADER;

/* ARP for Ethernet and IPv4 (RFC 826): 28 bytes. */
struct arp_t {
  unsigned short htype;                   /* hardware type (1: Ethernet) */
  unsigned short ptype;                   /* protocol type (0x0800) */
  unsigned char hlen;                     /* hardware address length (6) */
  unsigned char plen;                     /* protocol address length (4) */
  unsigned short oper;                    /* 1 request, 2 reply */
  unsigned long long sha : 48;            /* sender MAC */
  unsigned long long spa : 32;            /* sender IPv4 */
  unsigned long long tha : 48;            /* target MAC */
  unsigned int tpa;                       /* target IPv4 */
} BPF_PACKET_HEADER;

/* IPv4 (RFC 791) without options: 20 bytes; hlen counts 32-bit words. */
struct ip_t {
  unsigned char ver : 4;
  unsigned char hlen : 4;
  unsigned char tos;
  unsigned short tlen;                    /* total length */
  unsigned short identification;
  unsigned short ffo_unused : 1;          /* reserved flag */
  unsigned short df : 1;                  /* don't fragment */
  unsigned short mf : 1;                  /* more fragments */
  unsigned short foffset : 13;            /* fragment offset, 8-byte units */
  unsigned char ttl;
  unsigned char nextp;                    /* protocol: IPPROTO_TCP, ... */
  unsigned short hchecksum;
  unsigned int src;
  unsigned int dst;
} BPF_PACKET_HEADER;

/* ICMP (RFC 792) and ICMPv6 (RFC 4443) common header: 4 bytes. */
struct icmp_t {
  unsigned char type;
  unsigned char code;
  unsigned short checksum;
} BPF_PACKET_HEADER;

struct icmp6_t {
  unsigned char type;
  unsigned char code;
  unsigned short checksum;
} BPF_PACKET_HEADER;

/* IPv6 (RFC 8200): 40 bytes; addresses as two 64-bit halves. */
struct ip6_t {
  unsigned int ver : 4;
  unsigned int priority : 8;              /* traffic class */
  unsigned int flow_label : 20;
  unsigned short payload_len;
  unsigned char next_header;
  unsigned char hop_limit;
  unsigned long long src_hi;
  unsigned long long src_lo;
  unsigned long long dst_hi;
  unsigned long long dst_lo;
} BPF_PACKET_HEADER;

/* IPv6 extension header start: 8 bytes. */
struct ip6_opt_t {
  unsigned char next_header;
  unsigned char ext_len;                  /* length in 8-byte units, minus one */
  unsigned char pad[6];
} BPF_PACKET_HEADER;

/* UDP (RFC 768): 8 bytes. */
struct udp_t {
  unsigned short sport;
  unsigned short dport;
  unsigned short length;
  unsigned short crc;
} BPF_PACKET_HEADER;

/* TCP (RFC 9293) without options: 20 bytes; offset counts 32-bit words. */
struct tcp_t {
  unsigned short src_port;
  unsigned short dst_port;
  unsigned int seq_num;
  unsigned int ack_num;
  unsigned char offset : 4;
  unsigned char reserved : 4;
  unsigned char flag_cwr : 1;
  unsigned char flag_ece : 1;
  unsigned char flag_urg : 1;
  unsigned char flag_ack : 1;
  unsigned char flag_psh : 1;
  unsigned char flag_rst : 1;
  unsigned char flag_syn : 1;
  unsigned char flag_fin : 1;
  unsigned short rcv_wnd;
  unsigned short cksum;
  unsigned short urg_ptr;
} BPF_PACKET_HEADER;

/* VXLAN (RFC 7348): 8 bytes; iflag says the VNI (key) is valid. */
struct vxlan_t {
  unsigned int rsv1 : 4;
  unsigned int iflag : 1;
  unsigned int rsv2 : 3;
  unsigned int rsv3 : 24;
  unsigned int key : 24;                  /* VNI */
  unsigned int rsv4 : 8;
} BPF_PACKET_HEADER;

/* VXLAN with the Group Based Policy extension: 8 bytes. */
struct vxlan_gbp_t {
  unsigned int gflag : 1;
  unsigned int rsv1 : 3;
  unsigned int iflag : 1;
  unsigned int rsv2 : 3;
  unsigned int rsv3 : 1;
  unsigned int dflag : 1;                 /* don't learn */
  unsigned int rsv4 : 1;
  unsigned int aflag : 1;                 /* policy applied */
  unsigned int rsv5 : 3;
  unsigned int tag : 16;                  /* group policy id */
  unsigned int key : 24;                  /* VNI */
  unsigned int rsv6 : 8;
} BPF_PACKET_HEADER;

#endif /* __BCC_PROTO_H */
