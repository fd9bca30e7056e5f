/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel types for CO-RE: the pinned vmlinux.h of the target arch (never the build host's). */
#ifndef __SONDE_VMLINUX_BPF_H
#define __SONDE_VMLINUX_BPF_H
/* Kernel structs have implicit padding; -Wpadded is for Sonde's own shared headers. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpadded"
#include "vmlinux.h"
#pragma clang diagnostic pop
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#endif
