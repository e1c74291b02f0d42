// The one place that sets libfuse's API version before its headers.
// 314, not 35: numerically 35 < 312, which would select the old loop API.
#ifndef SWIFTVFS_CFUSE_SHIM_H
#define SWIFTVFS_CFUSE_SHIM_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>
#include <fuse_opt.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <linux/fs.h>
#include <malloc.h>

// fuse_session_loop_mt is a macro that picks a versioned symbol.
static inline int cfuse_session_loop_mt(struct fuse_session *se,
                                        struct fuse_loop_config *config) {
  return fuse_session_loop_mt(se, config);
}

// fuse_session_new becomes a macro in libfuse 3.17; the wrapper survives both.
static inline struct fuse_session *
cfuse_session_new(struct fuse_args *args,
                  const struct fuse_lowlevel_ops *op, size_t op_size,
                  void *userdata) {
  return fuse_session_new(args, op, op_size, userdata);
}

#endif
