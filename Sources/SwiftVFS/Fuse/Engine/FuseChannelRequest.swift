import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// One request the native engine read from a /dev/fuse descriptor, and its
/// reply: the bridge's C vocabulary (`fuse_entry_param`, `stat`,
/// `fuse_file_info`) encoded with the Protocol encoder, as fuse_lowlevel.c's
/// fill_entry(), convert_stat() and fill_open() do, and written with one
/// writev() to the descriptor the request came from (the kernel finds the
/// request in that descriptor's processing queue: fuse_dev_do_write()).
///
/// A reply returns 0, or a negative errno: ENOENT when the kernel no longer
/// waits for the request (it was interrupted and answered already).
final class FuseChannelRequest: @unchecked Sendable {
  /// The request's id, echoed in the reply.
  let unique: UInt64
  /// The caller's fsuid, fsgid and thread group id (fuse_in_header).
  let uid: UInt32
  let gid: UInt32
  let pid: UInt32
  /// The umask the kernel sent with CREATE, MKDIR or MKNOD (DONT_MASK), else 0.
  let umask: UInt32
  /// The descriptor the request was read from: the reply goes there.
  let fd: Int32
  let connection: FuseConnection
  /// The interrupt callback, guarded by the connection's interrupt table.
  var interruptCallback: (@Sendable () -> Void)?

  init(header: FuseInHeader, umask: UInt32, fd: Int32, connection: FuseConnection) {
    unique = header.unique
    uid = header.uid
    gid = header.gid
    pid = header.pid
    self.umask = umask
    self.fd = fd
    self.connection = connection
  }

  /// Registers or unregisters the FUSE_INTERRUPT callback.
  func onInterrupt(_ callback: (@Sendable () -> Void)?) {
    connection.interrupts.register(self, callback)
  }

  // MARK: - Sending

  /// fuse_out_header then `parts`, in one writev().
  private func send(error: Int32, _ parts: [UnsafeRawBufferPointer]) -> Int32 {
    let total = FuseOutHeader.wireSize + parts.reduce(0) { $0 + $1.count }
    return withUnsafeTemporaryAllocation(byteCount: FuseOutHeader.wireSize, alignment: 8) {
      header in
      header.storeBytes(
        of: UInt32(truncatingIfNeeded: total).littleEndian, toByteOffset: 0, as: UInt32.self)
      header.storeBytes(of: error.littleEndian, toByteOffset: 4, as: Int32.self)
      header.storeBytes(of: unique.littleEndian, toByteOffset: 8, as: UInt64.self)
      var iov = [iovec(iov_base: header.baseAddress, iov_len: FuseOutHeader.wireSize)]
      for part in parts where part.count > 0 {
        iov.append(
          iovec(iov_base: UnsafeMutableRawPointer(mutating: part.baseAddress), iov_len: part.count))
      }
      return FuseChannel.writev(fd, iov, expected: total)
    }
  }

  /// A whole reply the encoder built (header included).
  private func send(_ bytes: [UInt8]) -> Int32 {
    bytes.withUnsafeBytes { raw in
      let iov = [
        iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)
      ]
      return FuseChannel.writev(fd, iov, expected: raw.count)
    }
  }

  private func sendBody(_ body: [UInt8]) -> Int32 {
    body.withUnsafeBytes { send(error: 0, [$0]) }
  }

  // MARK: - Replies

  /// `error` 0 is success without a body; else the errno (positive).
  func replyError(_ error: Int32) -> Int32 {
    // fuse_reply_err(): an errno out of range is a bug; the kernel wants -1..-999.
    let code = error <= 0 || error >= 1000 ? (error == 0 ? 0 : -EIO) : -error
    return send(error: code, [])
  }

  func replyEntry(_ e: fuse_entry_param) -> Int32 {
    send(connection.encoder.entry(unique: unique, FuseChannelRequest.entryOut(e)))
  }

  func replyCreate(_ e: fuse_entry_param, _ fi: fuse_file_info) -> Int32 {
    send(
      connection.encoder.create(
        unique: unique, FuseChannelRequest.entryOut(e), FuseChannelRequest.openOut(fi)))
  }

  func replyAttr(_ st: stat, timeout: Double) -> Int32 {
    let out = FuseAttrOut(
      attrValid: FuseChannelRequest.seconds(timeout),
      attrValidNsec: FuseChannelRequest.nanoseconds(timeout), attr: FuseChannelRequest.attr(st))
    return send(connection.encoder.attr(unique: unique, out))
  }

  func replyOpen(_ fi: fuse_file_info) -> Int32 {
    send(connection.encoder.open(unique: unique, FuseChannelRequest.openOut(fi)))
  }

  func replyWrite(_ count: Int) -> Int32 {
    send(
      connection.encoder.write(
        unique: unique, FuseWriteOut(size: UInt32(truncatingIfNeeded: count))))
  }

  func replyData(_ data: UnsafeRawBufferPointer) -> Int32 { send(error: 0, [data]) }

  func replyIov(_ iov: [iovec]) -> Int32 {
    send(error: 0, iov.map { UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len) })
  }

  /// struct fuse_kstatfs (80 bytes), as convert_statfs() fills it.
  func replyStatfs(_ v: statvfs) -> Int32 {
    var w = FuseWireWriter(capacity: 80)
    w.u64(UInt64(v.f_blocks))
    w.u64(UInt64(v.f_bfree))
    w.u64(UInt64(v.f_bavail))
    w.u64(UInt64(v.f_files))
    w.u64(UInt64(v.f_ffree))
    w.u32(UInt32(truncatingIfNeeded: v.f_bsize))
    w.u32(UInt32(truncatingIfNeeded: v.f_namemax))
    w.u32(UInt32(truncatingIfNeeded: v.f_frsize))
    w.zeros(4 + 24)  // padding, spare[6]
    return sendBody(w.bytes)
  }

  /// struct fuse_getxattr_out: the size alone.
  func replyXattrSize(_ size: Int) -> Int32 {
    var w = FuseWireWriter(capacity: 8)
    w.u32(UInt32(truncatingIfNeeded: size))
    w.zeros(4)
    return sendBody(w.bytes)
  }

  /// struct fuse_lseek_out.
  func replyLseek(_ offset: Int64) -> Int32 {
    var w = FuseWireWriter(capacity: 8)
    w.i64(offset)
    return sendBody(w.bytes)
  }

  /// struct fuse_ioctl_out (result, no retry) then the output bytes.
  func replyIoctl(_ result: Int32, _ output: UnsafeRawBufferPointer) -> Int32 {
    var w = FuseWireWriter(capacity: 16)
    w.i32(result)
    w.zeros(12)  // flags, in_iovs, out_iovs
    return w.bytes.withUnsafeBytes { send(error: 0, [$0, output]) }
  }

  /// struct fuse_poll_out.
  func replyPoll(_ events: UInt32) -> Int32 {
    var w = FuseWireWriter(capacity: 8)
    w.u32(events)
    w.zeros(4)
    return sendBody(w.bytes)
  }

  // MARK: - libfuse's structs in the kernel's words

  /// calc_timeout_sec(): whole seconds, 0 for a negative or NaN timeout.
  static func seconds(_ t: Double) -> UInt64 {
    guard t > 0 else { return 0 }
    return t >= 1.8e19 ? UInt64.max : UInt64(t)
  }

  /// calc_timeout_nsec(): the fraction, in nanoseconds.
  static func nanoseconds(_ t: Double) -> UInt32 {
    guard t > 0, t < 1.8e19 else { return 0 }
    let ns = (t - t.rounded(.down)) * 1e9
    return UInt32(min(max(ns, 0), 999_999_999))
  }

  /// convert_stat().
  static func attr(_ st: stat) -> FuseAttr {
    FuseAttr(
      ino: UInt64(st.st_ino), size: UInt64(bitPattern: Int64(st.st_size)),
      blocks: UInt64(bitPattern: Int64(st.st_blocks)),
      atime: UInt64(bitPattern: Int64(st.st_atim.tv_sec)),
      mtime: UInt64(bitPattern: Int64(st.st_mtim.tv_sec)),
      ctime: UInt64(bitPattern: Int64(st.st_ctim.tv_sec)),
      atimensec: UInt32(truncatingIfNeeded: st.st_atim.tv_nsec),
      mtimensec: UInt32(truncatingIfNeeded: st.st_mtim.tv_nsec),
      ctimensec: UInt32(truncatingIfNeeded: st.st_ctim.tv_nsec), mode: st.st_mode,
      nlink: UInt32(truncatingIfNeeded: st.st_nlink), uid: st.st_uid, gid: st.st_gid,
      rdev: UInt32(truncatingIfNeeded: st.st_rdev),
      blksize: UInt32(truncatingIfNeeded: st.st_blksize))
  }

  /// fill_entry().
  static func entryOut(_ e: fuse_entry_param) -> FuseEntryOut {
    FuseEntryOut(
      nodeid: e.ino, generation: e.generation, entryValid: seconds(e.entry_timeout),
      attrValid: seconds(e.attr_timeout), entryValidNsec: nanoseconds(e.entry_timeout),
      attrValidNsec: nanoseconds(e.attr_timeout), attr: attr(e.attr))
  }

  /// fill_open(): the handle and the FOPEN_* flags.
  static func openOut(_ fi: fuse_file_info) -> FuseOpenOut {
    var flags: UInt32 = 0
    if fi.direct_io != 0 { flags |= FuseOpenOut.directIO }
    if fi.keep_cache != 0 { flags |= FuseOpenOut.keepCache }
    if fi.cache_readdir != 0 { flags |= FuseOpenOut.cacheDir }
    if fi.nonseekable != 0 { flags |= FuseOpenOut.nonseekable }
    if fi.noflush != 0 { flags |= FuseOpenOut.noflush }
    return FuseOpenOut(fh: fi.fh, openFlags: flags)
  }
}
