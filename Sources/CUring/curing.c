#define _GNU_SOURCE
#include "curing.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

// struct fuse_uring_cmd_req (include/uapi/linux/fuse.h, 7.42).
struct curing_fuse_cmd_req {
  uint64_t flags;
  uint64_t commit_id;
  uint16_t qid;
  uint8_t padding[6];
};

_Static_assert(sizeof(struct curing_fuse_cmd_req) <= 80, "the SQE128 command area is 80 bytes");

struct curing_ring {
  struct io_uring ring;
};

struct curing_ring *curing_ring_new(unsigned entries, unsigned cq_entries, int *error) {
  struct curing_ring *r = calloc(1, sizeof(*r));
  if (!r) {
    *error = -ENOMEM;
    return NULL;
  }
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  // uring_cmd needs the 128-byte SQEs (fuse_uring_cmd(): IO_URING_F_SQE128).
  p.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE;
  p.cq_entries = cq_entries;
  int made = io_uring_queue_init_params(entries, &r->ring, &p);
  if (made != 0) {
    *error = made;
    free(r);
    return NULL;
  }
  return r;
}

void curing_ring_free(struct curing_ring *ring) {
  if (!ring) return;
  io_uring_queue_exit(&ring->ring);
  free(ring);
}

int curing_prep_fuse_cmd(struct curing_ring *ring, int fd, uint32_t cmd_op, const void *iov,
                         uint16_t qid, uint64_t commit_id, uint64_t user_data) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
  if (!sqe) return -EBUSY;
  // Like libfuse's fuse_uring_sqe_prepare(), without registered files.
  memset(sqe, 0, 128);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd;
  sqe->cmd_op = cmd_op;
  if (iov) {
    sqe->addr = (uint64_t)(uintptr_t)iov;
    sqe->len = 2;
  }
  sqe->user_data = user_data;
  struct curing_fuse_cmd_req *req = (struct curing_fuse_cmd_req *)sqe->cmd;
  req->qid = qid;
  req->commit_id = commit_id;
  return 0;
}

int curing_prep_poll(struct curing_ring *ring, int fd, uint64_t user_data) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->ring);
  if (!sqe) return -EBUSY;
  io_uring_prep_poll_add(sqe, fd, POLLIN);
  sqe->user_data = user_data;
  return 0;
}

int curing_submit(struct curing_ring *ring) { return io_uring_submit(&ring->ring); }

int curing_submit_and_wait(struct curing_ring *ring) {
  return io_uring_submit_and_wait(&ring->ring, 1);
}

int curing_cq_ready(struct curing_ring *ring) { return (int)io_uring_cq_ready(&ring->ring); }

int curing_next_cqe(struct curing_ring *ring, uint64_t *user_data, int32_t *res) {
  struct io_uring_cqe *cqe = NULL;
  if (io_uring_peek_cqe(&ring->ring, &cqe) != 0 || !cqe) return 0;
  *user_data = cqe->user_data;
  *res = cqe->res;
  io_uring_cqe_seen(&ring->ring, cqe);
  return 1;
}

int curing_pin_to_cpu(int cpu) {
  if (cpu < 0 || cpu >= CPU_SETSIZE) return -EINVAL;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return -pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int curing_eventfd(void) {
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd >= 0 ? fd : -errno;
}
