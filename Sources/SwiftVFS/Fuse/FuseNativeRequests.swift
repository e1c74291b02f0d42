import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// The requests only the native engine receives (libfuse 3.14 has no slot for
/// them and answers ENOSYS): TMPFILE, STATX and SYNCFS, served as the
/// kernel's ->tmpfile, ->getattr with STATX_BTIME and ->sync_fs.
extension FuseBridge {
  /// FUSE_TMPFILE, sent by fuse_tmpfile() for open(O_TMPFILE): like CREATE
  /// (the reply is an entry and an open file, fuse_create_open()), but the
  /// file has no name and nlink 0. No INIT flag asks for it: the kernel sends
  /// it until it gets ENOSYS (fc->no_tmpfile, then EOPNOTSUPP).
  func tmpfile(
    _ req: FuseReplier, _ parent: UInt64, _ mode: mode_t,
    _ fi: UnsafeMutablePointer<fuse_file_info>?
  ) {
    serve(req, .tmpfile, parent) { () throws(Errno) -> Inode? in
      let dir = try node(parent)
      guard let fi else { throw .EINVAL }
      let (inode, fh, file) = try vfs.tmpfile(
        dir, mode: UInt32(mode), flags: openFlags(fi.pointee.flags), cred: FuseBridge.cred(req),
        asked: fi.pointee.flags)
      try replyCreate(req, inode, fh, file, fi)
      return inode
    }
  }

  /// FUSE_STATX, sent by fuse_update_get_attr() when statx(2) asks for more
  /// than the basic stats (STATX_BTIME): the GETATTR attributes, and the
  /// birth time if the file system keeps one. No INIT flag asks for it: the
  /// kernel sends it until it gets ENOSYS (fc->no_statx).
  func statx(_ req: FuseReplier, _ ino: UInt64) {
    if let inode = asyncInode(ino) {
      return serveAsync(req, .statx, ino, detail: "") { [self] () throws(Errno) -> AsyncReply in
        let st = try await vfs.getattrAsync(inode)
        return AsyncReply(inode: inode) { [self] req in replyStatx(req, st) }
      }
    }
    serve(req, .statx, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      replyStatx(req, try vfs.getattr(inode))
      return inode
    }
  }

  /// The statx reply for `st`: what GETATTR would say (the same view of
  /// char nodes), with STATX_BTIME only when `st` has a birth time.
  private func replyStatx(_ req: FuseReplier, _ st: Stat) {
    let a = attributes(st)
    var sx = FuseStatx()
    sx.mask = FuseStatx.basicStats | (st.btime == nil ? 0 : FuseStatx.btimeMask)
    sx.blksize = UInt32(truncatingIfNeeded: a.st_blksize)
    sx.nlink = UInt32(truncatingIfNeeded: a.st_nlink)
    sx.uid = a.st_uid
    sx.gid = a.st_gid
    sx.mode = UInt16(truncatingIfNeeded: a.st_mode)
    sx.ino = UInt64(a.st_ino)
    sx.size = UInt64(bitPattern: Int64(a.st_size))
    sx.blocks = UInt64(bitPattern: Int64(a.st_blocks))
    sx.atime = FuseNativeRequests.time(a.st_atim)
    sx.mtime = FuseNativeRequests.time(a.st_mtim)
    sx.ctime = FuseNativeRequests.time(a.st_ctim)
    if let b = st.btime { sx.btime = FuseSxTime(sec: b.sec, nsec: UInt32(clamping: b.nsec)) }
    // glibc's dev_t encoding (gnu_dev_major / gnu_dev_minor).
    let rdev = UInt64(a.st_rdev)
    sx.rdevMajor = UInt32(truncatingIfNeeded: (rdev >> 8) & 0xfff | (rdev >> 32) & ~0xfff)
    sx.rdevMinor = UInt32(truncatingIfNeeded: rdev & 0xff | (rdev >> 12) & ~0xff)
    let timeout = options.attrTimeout
    let out = FuseStatxOut(
      attrValid: FuseChannelRequest.seconds(timeout),
      attrValidNsec: FuseChannelRequest.nanoseconds(timeout), stat: sx)
    var w = FuseWireWriter(capacity: FuseStatxOut.wireSize)
    out.encode(into: &w)
    w.bytes.withUnsafeBytes { _ = req.reply(data: $0.baseAddress, count: $0.count) }
  }
}

extension FuseBridge {
  /// FUSE_SYNCFS, sent by fuse_sync_fs() for syncfs(2) on the mount (on the
  /// root's node id): the superblock's ->sync_fs. The kernel sends it only
  /// where fc->sync_fs is set; until then, this is never reached.
  func syncfs(_ req: FuseReplier, _ ino: UInt64) {
    serve(req, .syncfs, ino) { () throws(Errno) -> Inode? in
      let inode = try node(ino)
      try vfs.syncFS(inode)
      req.reply(error: 0)
      return inode
    }
  }
}

/// Helpers of the native-only requests.
enum FuseNativeRequests {
  /// A `timespec` as statx's time.
  static func time(_ t: timespec) -> FuseSxTime {
    FuseSxTime(sec: Int64(t.tv_sec), nsec: UInt32(clamping: t.tv_nsec))
  }
}

/// The caller's fsuid and fsgid from /proc/PID/status ("Uid:" and "Gid:",
/// fourth field), for requests whose header carries FUSE_INVALID_UIDGID:
/// with FUSE_ALLOW_IDMAP the kernel names the caller only when it creates
/// an inode (fuse_fill_creds()). A caller already gone (or pid 0) stays
/// invalid, which no owner or group matches.
enum FuseCallerCreds {
  /// FUSE_INVALID_UIDGID.
  static let invalid = UInt32.max

  static func fill(_ cred: inout Cred, pid: UInt32) {
    let status = ProcessStatus.fields(pid: pid, ["Uid:", "Gid:"])
    if let ids = status["Uid:"], ids.count == 4 { cred.uid = ids[3] }
    if let ids = status["Gid:"], ids.count == 4 { cred.gid = ids[3] }
  }
}
