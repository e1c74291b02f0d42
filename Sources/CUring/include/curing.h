// The native engine's io_uring, through liburing (Debian 12: 2.3), behind
// an opaque ring so that no glibc or liburing header is part of this
// module (their types would clash with Glibc's in Swift). The FUSE-over-
// io_uring ABI (7.42) that Debian's <linux/fuse.h> predates lives in
// curing.c: the SQE's 80-byte command area (IORING_SETUP_SQE128) is filled
// there, as Swift cannot reach the zero-length `cmd` array of the SQE.
#ifndef SWIFTVFS_CURING_H
#define SWIFTVFS_CURING_H

#include <stdint.h>

// enum fuse_uring_cmd (include/uapi/linux/fuse.h).
#define CURING_FUSE_CMD_REGISTER 1
#define CURING_FUSE_CMD_COMMIT_AND_FETCH 2
// sizeof(struct fuse_uring_req_header): in_out[128], op_in[128], and
// struct fuse_uring_ent_in_out (flags, commit_id, payload_sz, padding, reserved).
#define CURING_FUSE_REQ_HEADER_SIZE 288

struct curing_ring;

// A ring of 128-byte SQEs with `entries` SQEs and `cq_entries` CQEs; NULL
// and the negative errno in *error if io_uring_setup fails.
struct curing_ring *curing_ring_new(unsigned entries, unsigned cq_entries, int *error);
// io_uring_queue_exit, then frees the ring.
void curing_ring_free(struct curing_ring *ring);

// IORING_OP_URING_CMD `cmd_op` on the /dev/fuse descriptor `fd` with struct
// fuse_uring_cmd_req {qid, commit_id} in the command area; `iov` (two
// struct iovec: header, payload) for REGISTER, NULL for COMMIT_AND_FETCH.
// 0, or -EBUSY when the submission queue is full.
int curing_prep_fuse_cmd(struct curing_ring *ring, int fd, uint32_t cmd_op, const void *iov,
                         uint16_t qid, uint64_t commit_id, uint64_t user_data);
// A one-shot POLLIN on `fd`. 0, or -EBUSY.
int curing_prep_poll(struct curing_ring *ring, int fd, uint64_t user_data);
// io_uring_submit: the number submitted, or a negative errno.
int curing_submit(struct curing_ring *ring);
// io_uring_submit_and_wait(ring, 1).
int curing_submit_and_wait(struct curing_ring *ring);
int curing_cq_ready(struct curing_ring *ring);
// The next completion without waiting, consumed: 1 and its fields, or 0.
int curing_next_cqe(struct curing_ring *ring, uint64_t *user_data, int32_t *res);

// An eventfd (close-on-exec, non-blocking) that wakes a queue's owner
// through its ring; -errno on failure.
int curing_eventfd(void);

// Pins the calling thread to `cpu` (pthread_setaffinity_np): 0 or -errno.
int curing_pin_to_cpu(int cpu);

#endif
