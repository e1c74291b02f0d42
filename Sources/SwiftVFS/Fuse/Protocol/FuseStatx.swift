// The reply to FUSE_STATX (7.39), from include/uapi/linux/fuse.h: struct
// fuse_statx_out, holding a struct fuse_statx whose times are struct
// fuse_sx_time. Debian's header stops at 7.38, so they are defined here.
// fuse_do_statx() copies the fields `mask` names, and takes btime only with
// STATX_BTIME in it.

import SwiftVFSCore

/// `struct fuse_sx_time` (16 bytes): a statx timestamp.
public struct FuseSxTime: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// Seconds (offset 0).
  public var sec: Int64
  /// Nanoseconds (offset 8); the kernel clamps it below 1e9.
  public var nsec: UInt32
  /// A time with these fields.
  public init(sec: Int64 = 0, nsec: UInt32 = 0) {
    self.sec = sec
    self.nsec = nsec
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    sec = wire.i64(at: 0)
    nsec = wire.u32(at: 8)
  }
  /// Appends the 16 bytes (the last 4 reserved, zero).
  public func encode(into w: inout FuseWireWriter) {
    w.i64(sec)
    w.u32(nsec)
    w.zeros(4)
  }
}

/// `struct fuse_statx` (256 bytes): the attributes statx(2) asks for.
public struct FuseStatx: FuseWireStruct {
  /// 256 bytes.
  public static let wireSize = 256
  /// STATX_BASIC_STATS: type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks.
  public static let basicStats: UInt32 = 0x7ff
  /// STATX_BTIME: the birth time is valid.
  public static let btimeMask: UInt32 = 0x800
  /// STATX_* bits of the valid fields (offset 0).
  public var mask: UInt32 = 0
  /// Preferred I/O size (offset 4).
  public var blksize: UInt32 = 0
  /// STATX_ATTR_* flags (offset 8).
  public var attributes: UInt64 = 0
  /// Link count (offset 16).
  public var nlink: UInt32 = 0
  /// Owner (offset 20).
  public var uid: UInt32 = 0
  /// Group (offset 24).
  public var gid: UInt32 = 0
  /// Type and mode (offset 28, 16 bits).
  public var mode: UInt16 = 0
  /// Inode number (offset 32).
  public var ino: UInt64 = 0
  /// Size in bytes (offset 40).
  public var size: UInt64 = 0
  /// 512-byte blocks (offset 48).
  public var blocks: UInt64 = 0
  /// The STATX_ATTR_* flags this file system knows (offset 56).
  public var attributesMask: UInt64 = 0
  /// Last access (offset 64).
  public var atime = FuseSxTime()
  /// Birth (offset 80).
  public var btime = FuseSxTime()
  /// Last inode change (offset 96).
  public var ctime = FuseSxTime()
  /// Last data change (offset 112).
  public var mtime = FuseSxTime()
  /// Device number of a device node, major (offset 128).
  public var rdevMajor: UInt32 = 0
  /// Device number of a device node, minor (offset 132).
  public var rdevMinor: UInt32 = 0
  /// The file system's device, major (offset 136; the kernel uses its own).
  public var devMajor: UInt32 = 0
  /// The file system's device, minor (offset 140).
  public var devMinor: UInt32 = 0
  /// An empty body (mask 0).
  public init() {}
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    mask = wire.u32(at: 0)
    blksize = wire.u32(at: 4)
    attributes = wire.u64(at: 8)
    nlink = wire.u32(at: 16)
    uid = wire.u32(at: 20)
    gid = wire.u32(at: 24)
    mode = wire.u16(at: 28)
    ino = wire.u64(at: 32)
    size = wire.u64(at: 40)
    blocks = wire.u64(at: 48)
    attributesMask = wire.u64(at: 56)
    let empty = FuseWireBytes([])
    atime = FuseSxTime(wire: wire.suffix(from: 64) ?? empty)
    btime = FuseSxTime(wire: wire.suffix(from: 80) ?? empty)
    ctime = FuseSxTime(wire: wire.suffix(from: 96) ?? empty)
    mtime = FuseSxTime(wire: wire.suffix(from: 112) ?? empty)
    rdevMajor = wire.u32(at: 128)
    rdevMinor = wire.u32(at: 132)
    devMajor = wire.u32(at: 136)
    devMinor = wire.u32(at: 140)
  }
  /// Appends the 256 bytes (112 spare, zero).
  public func encode(into w: inout FuseWireWriter) {
    w.u32(mask)
    w.u32(blksize)
    w.u64(attributes)
    w.u32(nlink)
    w.u32(uid)
    w.u32(gid)
    w.u16(mode)
    w.zeros(2)
    w.u64(ino)
    w.u64(size)
    w.u64(blocks)
    w.u64(attributesMask)
    atime.encode(into: &w)
    btime.encode(into: &w)
    ctime.encode(into: &w)
    mtime.encode(into: &w)
    w.u32(rdevMajor)
    w.u32(rdevMinor)
    w.u32(devMajor)
    w.u32(devMinor)
    w.zeros(112)
  }
}

/// `struct fuse_statx_out` (288 bytes): the reply to STATX.
public struct FuseStatxOut: FuseWireStruct {
  /// 288 bytes.
  public static let wireSize = 288
  /// Attribute cache timeout, seconds (offset 0).
  public var attrValid: UInt64
  /// Attribute cache timeout, nanoseconds (offset 8).
  public var attrValidNsec: UInt32
  /// Reply flags, none defined yet (offset 12).
  public var flags: UInt32
  /// The attributes (offset 32, after two spare u64).
  public var stat: FuseStatx
  /// A reply body with these fields.
  public init(attrValid: UInt64 = 0, attrValidNsec: UInt32 = 0, flags: UInt32 = 0, stat: FuseStatx)
  {
    self.attrValid = attrValid
    self.attrValidNsec = attrValidNsec
    self.flags = flags
    self.stat = stat
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    attrValid = wire.u64(at: 0)
    attrValidNsec = wire.u32(at: 8)
    flags = wire.u32(at: 12)
    stat = FuseStatx(wire: wire.suffix(from: 32) ?? FuseWireBytes([]))
  }
  /// Appends the 288 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(attrValid)
    w.u32(attrValidNsec)
    w.u32(flags)
    w.zeros(16)
    stat.encode(into: &w)
  }
}
