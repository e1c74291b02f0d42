import CFuse
import SwiftVFSCore

/// The `struct fuse_lowlevel_ops` libfuse calls: one capture-free C function
/// per request, each finding the bridge through the session's userdata.
/// Slots left empty (locks, access, bmap, copy_file_range) get libfuse's
/// ENOSYS: the kernel then does POSIX and flock locks itself, and
/// default_permissions makes access() the kernel's business.
extension FuseBridge {
  @inline(__always)
  static func from(_ req: fuse_req_t?) -> FuseBridge {
    Unmanaged<FuseBridge>.fromOpaque(fuse_req_userdata(req)).takeUnretainedValue()
  }

  static func operationsTable() -> fuse_lowlevel_ops {
    var ops = fuse_lowlevel_ops()
    ops.`init` = { userdata, conn in
      guard let userdata, let conn else { return }
      Unmanaged<FuseBridge>.fromOpaque(userdata).takeUnretainedValue().negotiate(conn)
    }
    ops.lookup = { req, parent, name in FuseBridge.from(req).lookup(FuseReplier(req), parent, name)
    }
    ops.forget = { req, ino, n in FuseBridge.from(req).forget(FuseReplier(req), ino, n) }
    ops.forget_multi = { req, count, list in
      FuseBridge.from(req).forgetMulti(FuseReplier(req), count, list)
    }
    ops.getattr = { req, ino, _ in FuseBridge.from(req).getattr(FuseReplier(req), ino) }
    ops.setattr = { req, ino, attr, toSet, fi in
      FuseBridge.from(req).setattr(FuseReplier(req), ino, attr, toSet, throughFile: fi != nil)
    }
    ops.readlink = { req, ino in FuseBridge.from(req).readlink(FuseReplier(req), ino) }
    ops.mknod = { req, parent, name, mode, rdev in
      FuseBridge.from(req).mknod(FuseReplier(req), parent, name, mode, rdev)
    }
    ops.mkdir = { req, parent, name, mode in
      FuseBridge.from(req).mkdir(FuseReplier(req), parent, name, mode)
    }
    ops.unlink = { req, parent, name in FuseBridge.from(req).unlink(FuseReplier(req), parent, name)
    }
    ops.rmdir = { req, parent, name in FuseBridge.from(req).rmdir(FuseReplier(req), parent, name) }
    ops.symlink = { req, target, parent, name in
      FuseBridge.from(req).symlink(FuseReplier(req), target, parent, name)
    }
    ops.rename = { req, parent, name, newParent, newName, flags in
      FuseBridge.from(req).rename(FuseReplier(req), parent, name, newParent, newName, flags)
    }
    ops.link = { req, ino, newParent, name in
      FuseBridge.from(req).link(FuseReplier(req), ino, newParent, name)
    }
    ops.open = { req, ino, fi in FuseBridge.from(req).open(FuseReplier(req), ino, fi) }
    ops.create = { req, parent, name, mode, fi in
      FuseBridge.from(req).create(FuseReplier(req), parent, name, mode, fi)
    }
    ops.read = { req, ino, size, off, fi in
      FuseBridge.from(req).read(FuseReplier(req), ino, size, off, fi)
    }
    ops.write = { req, ino, buf, size, off, fi in
      FuseBridge.from(req).write(FuseReplier(req), ino, buf, size, off, fi)
    }
    ops.flush = { req, ino, fi in FuseBridge.from(req).flush(FuseReplier(req), ino, fi) }
    ops.release = { req, ino, fi in
      FuseBridge.from(req).release(FuseReplier(req), ino, fi, .release)
    }
    ops.fsync = { req, ino, datasync, fi in
      FuseBridge.from(req).fsync(FuseReplier(req), ino, datasync, fi, .fsync)
    }
    ops.opendir = { req, ino, fi in FuseBridge.from(req).opendir(FuseReplier(req), ino, fi) }
    ops.readdir = { req, ino, size, off, fi in
      FuseBridge.from(req).readdir(FuseReplier(req), ino, size, off, fi, plus: false)
    }
    ops.readdirplus = { req, ino, size, off, fi in
      FuseBridge.from(req).readdir(FuseReplier(req), ino, size, off, fi, plus: true)
    }
    ops.releasedir = { req, ino, fi in
      FuseBridge.from(req).release(FuseReplier(req), ino, fi, .releasedir)
    }
    ops.fsyncdir = { req, ino, datasync, fi in
      FuseBridge.from(req).fsync(FuseReplier(req), ino, datasync, fi, .fsyncdir)
    }
    ops.statfs = { req, ino in FuseBridge.from(req).statfs(FuseReplier(req), ino) }
    ops.setxattr = { req, ino, name, value, size, flags in
      FuseBridge.from(req).setxattr(FuseReplier(req), ino, name, value, size, flags)
    }
    ops.getxattr = { req, ino, name, size in
      FuseBridge.from(req).getxattr(FuseReplier(req), ino, name, size)
    }
    ops.listxattr = { req, ino, size in FuseBridge.from(req).listxattr(FuseReplier(req), ino, size)
    }
    ops.removexattr = { req, ino, name in
      FuseBridge.from(req).removexattr(FuseReplier(req), ino, name)
    }
    ops.fallocate = { req, ino, mode, off, len, fi in
      FuseBridge.from(req).fallocate(FuseReplier(req), ino, mode, off, len, fi)
    }
    ops.lseek = { req, ino, off, whence, fi in
      FuseBridge.from(req).lseek(FuseReplier(req), ino, off, whence, fi)
    }
    ops.ioctl = { req, ino, cmd, arg, fi, flags, inBuf, inSize, outSize in
      FuseBridge.from(req).ioctl(FuseReplier(req), ino, cmd, arg, fi, flags, inBuf, inSize, outSize)
    }
    ops.poll = { req, ino, fi, ph in
      FuseBridge.from(req).poll(FuseReplier(req), ino, fi, waiter: ph.map { FusePollWaiter($0) })
    }
    return ops
  }

  /// FUSE_INIT: what we ask of the kernel. Big writes, readdirplus, atomic
  /// O_TRUNC; the kernel itself clears setuid/setgid on write and chown (we
  /// do not claim HANDLE_KILLPRIV), as it does for tmpfs.
  func negotiate(_ conn: UnsafeMutablePointer<fuse_conn_info>) {
    let c = conn.pointee.capable
    // The kernel's offer, before it is overwritten with what we ask.
    let offeredReadahead = conn.pointee.max_readahead
    var want = conn.pointee.want
    for cap in [
      FUSE_CAP_ATOMIC_O_TRUNC, FUSE_CAP_READDIRPLUS, FUSE_CAP_READDIRPLUS_AUTO,
      FUSE_CAP_ASYNC_READ, FUSE_CAP_PARALLEL_DIROPS, FUSE_CAP_IOCTL_DIR, FUSE_CAP_ASYNC_DIO,
      FUSE_CAP_EXPORT_SUPPORT,  // LOOKUP of "." and "..": file handles (Export.swift)
    ] where c & UInt32(cap) != 0 {
      want |= UInt32(cap)
    }
    want &= ~UInt32(FUSE_CAP_HANDLE_KILLPRIV)
    // POSIX ACLs, enforced by the kernel (PosixAcl.swift). The FUSE kernel
    // then leaves the umask to us (DONT_MASK): a default ACL decides the
    // mode of a new file instead, as on tmpfs.
    let acl = UInt32(FUSE_CAP_POSIX_ACL) | UInt32(FUSE_CAP_DONT_MASK)
    if c & acl == acl { want |= acl }
    want &= ~UInt32(FUSE_CAP_AUTO_INVAL_DATA)
    if options.writebackCache, c & UInt32(FUSE_CAP_WRITEBACK_CACHE) != 0 {
      want |= UInt32(FUSE_CAP_WRITEBACK_CACHE)
    } else {
      want &= ~UInt32(FUSE_CAP_WRITEBACK_CACHE)
    }
    conn.pointee.want = want
    conn.pointee.max_write = 1 << 20
    conn.pointee.max_readahead = 1 << 20
    conn.pointee.time_gran = 1
    conn.pointee.max_background = UInt32(FuseBridge.maxBackground)
    conn.pointee.congestion_threshold = UInt32(FuseBridge.congestionThreshold)
    let info = FuseOperationsTableReport.info(conn.pointee, offeredReadahead: offeredReadahead)
    vfs.requests.connectionReport = info.report
  }
}

/// /proc/vfs/connection for libfuse's loop: what fuse_conn_info tells of
/// the negotiation (libfuse turns `want` into the kernel's INIT flags in
/// do_init(), adding BIG_WRITES and MAX_PAGES itself).
enum FuseOperationsTableReport {
  static let capabilities: [(cap: Int32, flag: FuseInitFlags)] = [
    (FUSE_CAP_ASYNC_READ, .asyncRead), (FUSE_CAP_POSIX_LOCKS, .posixLocks),
    (FUSE_CAP_ATOMIC_O_TRUNC, .atomicOTrunc), (FUSE_CAP_EXPORT_SUPPORT, .exportSupport),
    (FUSE_CAP_DONT_MASK, .dontMask), (FUSE_CAP_SPLICE_WRITE, .spliceWrite),
    (FUSE_CAP_SPLICE_MOVE, .spliceMove), (FUSE_CAP_SPLICE_READ, .spliceRead),
    (FUSE_CAP_FLOCK_LOCKS, .flockLocks), (FUSE_CAP_IOCTL_DIR, .hasIoctlDir),
    (FUSE_CAP_AUTO_INVAL_DATA, .autoInvalData), (FUSE_CAP_READDIRPLUS, .doReaddirplus),
    (FUSE_CAP_READDIRPLUS_AUTO, .readdirplusAuto), (FUSE_CAP_ASYNC_DIO, .asyncDio),
    (FUSE_CAP_WRITEBACK_CACHE, .writebackCache), (FUSE_CAP_NO_OPEN_SUPPORT, .noOpenSupport),
    (FUSE_CAP_PARALLEL_DIROPS, .parallelDirops), (FUSE_CAP_POSIX_ACL, .posixACL),
    (FUSE_CAP_HANDLE_KILLPRIV, .handleKillpriv), (FUSE_CAP_CACHE_SYMLINKS, .cacheSymlinks),
    (FUSE_CAP_NO_OPENDIR_SUPPORT, .noOpendirSupport),
    (FUSE_CAP_EXPLICIT_INVAL_DATA, .explicitInvalData), (FUSE_CAP_EXPIRE_ONLY, .hasExpireOnly),
  ]

  /// libfuse 3.14 speaks FUSE 7.38 (its fuse_kernel.h); `proto_minor` is the kernel's.
  static let libfuseMinor: UInt32 = 38

  static func info(_ conn: fuse_conn_info, offeredReadahead: UInt32) -> FuseConnectionInfo {
    let taken = conn.want & conn.capable
    var flags: FuseInitFlags = []
    for (cap, flag) in capabilities where taken & UInt32(bitPattern: cap) != 0 {
      flags.insert(flag)
    }
    // libfuse's own additions: its buffer holds 1 MiB (FUSE_MAX_MAX_PAGES).
    let maxWrite = min(conn.max_write, 1 << 20)
    if maxWrite > 4096 { flags.insert(.bigWrites) }
    var maxPages: UInt16 = 0
    if conn.proto_minor >= 28 {
      flags.insert(.maxPages)
      maxPages = UInt16((maxWrite - 1) / 4096 + 1)
    }
    return FuseConnectionInfo(
      major: conn.proto_major, minor: min(conn.proto_minor, libfuseMinor), flags: flags,
      maxWrite: maxWrite, maxPages: maxPages,
      // The kernel takes the smaller of its offer and ours (process_init_reply()).
      maxReadahead: min(conn.max_readahead, offeredReadahead), timeGran: conn.time_gran,
      maxBackground: UInt16(truncatingIfNeeded: conn.max_background),
      congestionThreshold: UInt16(truncatingIfNeeded: conn.congestion_threshold),
      transport: "libfuse 3.14 loop")
  }
}
