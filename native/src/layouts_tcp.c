/*
 * Offsets of the struct tcp_info fields the ebpf receiver reads from sock_diag's INET_DIAG_INFO
 * (live byte counts of connections). Its own file: <linux/tcp.h> clashes with the <netinet/tcp.h>
 * that node_api.h pulls in through libuv. The struct has bitfields, so only offsets are exported.
 */
#include <stddef.h>
#include <linux/tcp.h>

void sonde_tcp_info_offsets(size_t *acked, size_t *received);

void sonde_tcp_info_offsets(size_t *acked, size_t *received)
{
	*acked = offsetof(struct tcp_info, tcpi_bytes_acked);
	*received = offsetof(struct tcp_info, tcpi_bytes_received);
}
