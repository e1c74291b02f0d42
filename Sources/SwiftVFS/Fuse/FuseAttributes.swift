import CFuse
import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// Conversions between VFS values and the C structs libfuse takes. A char
/// node that a Swift driver serves is shown as a regular file at this
/// boundary (`asRegularFile`; DESIGN.md: the kernel would send open() of a
/// real S_IFCHR node to its own driver, or refuse it on a nodev mount),
/// except in the reply to MKNOD, which must have the type the kernel asked
/// for. Every other node is shown as it is: block nodes and driverless char
/// nodes with their rdev; the kernel refuses to open those on this nodev
/// mount (EACCES). `DeviceNodeViews` states the rule.
enum FuseAttributes {
  static func stat(_ st: Stat, asRegularFile: Bool) -> Glibc.stat {
    var s = Glibc.stat()
    var mode = st.mode
    if asRegularFile {
      mode = FileType.regular.rawValue | mode & ModeBits.permissions
    }
    s.st_ino = UInt(st.ino)
    s.st_mode = mode
    s.st_nlink = UInt(st.nlink)
    s.st_uid = st.uid
    s.st_gid = st.gid
    s.st_rdev = UInt(st.rdev.userEncoding)
    s.st_size = Int(st.size)
    s.st_blocks = Int(st.blocks)
    s.st_blksize = Int(st.blockSize)
    s.st_atim = timespec(tv_sec: Int(st.atime.sec), tv_nsec: Int(st.atime.nsec))
    s.st_mtim = timespec(tv_sec: Int(st.mtime.sec), tv_nsec: Int(st.mtime.nsec))
    s.st_ctim = timespec(tv_sec: Int(st.ctime.sec), tv_nsec: Int(st.ctime.nsec))
    return s
  }

  static func timestamp(_ ts: timespec) -> Timestamp {
    Timestamp(sec: Int64(ts.tv_sec), nsec: Int32(truncatingIfNeeded: ts.tv_nsec))
  }

  /// FUSE setattr's `to_set` bits and values as a VFS `SetAttr`; absurd
  /// values (negative size, nanoseconds out of range) are EINVAL.
  static func setAttr(_ attr: Glibc.stat, toSet: Int32) throws(Errno) -> SetAttr {
    var change = SetAttr()
    if toSet & FUSE_SET_ATTR_MODE != 0 { change.mode = attr.st_mode & ModeBits.permissions }
    if toSet & FUSE_SET_ATTR_UID != 0 { change.uid = attr.st_uid }
    if toSet & FUSE_SET_ATTR_GID != 0 { change.gid = attr.st_gid }
    if toSet & FUSE_SET_ATTR_SIZE != 0 {
      guard attr.st_size >= 0 else { throw .EINVAL }
      change.size = Int64(attr.st_size)
    }
    if toSet & FUSE_SET_ATTR_ATIME_NOW != 0 {
      change.atime = .now
    } else if toSet & FUSE_SET_ATTR_ATIME != 0 {
      guard (0..<1_000_000_000).contains(attr.st_atim.tv_nsec) else { throw .EINVAL }
      change.atime = .to(timestamp(attr.st_atim))
    }
    if toSet & FUSE_SET_ATTR_MTIME_NOW != 0 {
      change.mtime = .now
    } else if toSet & FUSE_SET_ATTR_MTIME != 0 {
      guard (0..<1_000_000_000).contains(attr.st_mtim.tv_nsec) else { throw .EINVAL }
      change.mtime = .to(timestamp(attr.st_mtim))
    }
    if toSet & FUSE_SET_ATTR_CTIME != 0 {
      guard (0..<1_000_000_000).contains(attr.st_ctim.tv_nsec) else { throw .EINVAL }
      change.ctime = timestamp(attr.st_ctim)
    }
    return change
  }

  static func statvfs(_ s: StatFS) -> Glibc.statvfs {
    var v = Glibc.statvfs()
    v.f_bsize = UInt(s.blockSize)
    v.f_frsize = UInt(s.blockSize)
    v.f_blocks = UInt(s.blocks)
    v.f_bfree = UInt(s.blocksFree)
    v.f_bavail = UInt(s.blocksAvailable)
    v.f_files = UInt(s.files)
    v.f_ffree = UInt(s.filesFree)
    v.f_favail = UInt(s.filesFree)
    v.f_namemax = UInt(s.nameMax)
    return v
  }

  /// A name from the kernel, checked: ENAMETOOLONG past 255 bytes, EINVAL
  /// for an empty one or one with '/'.
  static func name(_ cString: UnsafePointer<CChar>?) throws(Errno) -> FileName {
    guard let cString else { throw .EINVAL }
    let length = strnlen(cString, FileName.maxLength + 1)
    guard length <= FileName.maxLength else { throw .ENAMETOOLONG }
    let bytes = cString.withMemoryRebound(to: UInt8.self, capacity: length) {
      Array(UnsafeBufferPointer(start: $0, count: length))
    }
    return try FileName.validated(bytes)
  }

  /// An xattr name: at most 255 bytes (ERANGE, as the kernel answers), valid UTF-8.
  static func xattrName(_ cString: UnsafePointer<CChar>?) throws(Errno) -> String {
    guard let cString else { throw .EINVAL }
    let length = strnlen(cString, Simple.xattrNameMax + 1)
    guard length > 0 else { throw .ERANGE }
    guard length <= Simple.xattrNameMax else { throw .ERANGE }
    guard let name = String(validatingCString: cString) else { throw .EOPNOTSUPP }
    return name
  }
}
