// The replies the engine writes: fuse_out_header, then the out-argument sized
// for the negotiated minor. The kernel checks a reply's length against the
// out-arguments it expects (fuse_dev_do_write() -> copy_out_args(): a longer
// reply is EINVAL). Protocol minors before 7.9 expect the short entry and attr
// replies (FUSE_COMPAT_ENTRY_OUT_SIZE 120, FUSE_COMPAT_ATTR_OUT_SIZE 96), so
// the encoder cuts them there as fuse_lowlevel.c's fuse_reply_entry() does.
// INIT's reply is sized by the kernel's own minor as do_init() sizes it:
// 8 bytes before 7.5, 24 before 7.23, 64 since (FUSE_COMPAT_22_INIT_OUT_SIZE).

import SwiftVFSCore

/// `struct fuse_attr` (88 bytes): an inode's attributes inside entry and attr replies.
public struct FuseAttr: FuseWireStruct {
  /// 88 bytes.
  public static let wireSize = 88
  /// Inode number (offset 0).
  public var ino: UInt64
  /// Size in bytes (offset 8).
  public var size: UInt64
  /// 512-byte blocks (offset 16).
  public var blocks: UInt64
  /// atime seconds (offset 24).
  public var atime: UInt64
  /// mtime seconds (offset 32).
  public var mtime: UInt64
  /// ctime seconds (offset 40).
  public var ctime: UInt64
  /// atime nanoseconds (offset 48).
  public var atimensec: UInt32
  /// mtime nanoseconds (offset 52).
  public var mtimensec: UInt32
  /// ctime nanoseconds (offset 56).
  public var ctimensec: UInt32
  /// Mode, type included (offset 60).
  public var mode: UInt32
  /// Link count (offset 64).
  public var nlink: UInt32
  /// Owner (offset 68).
  public var uid: UInt32
  /// Group (offset 72).
  public var gid: UInt32
  /// Device number, user-space encoding (offset 76).
  public var rdev: UInt32
  /// Preferred I/O size (offset 80).
  public var blksize: UInt32
  /// FUSE_ATTR_SUBMOUNT / FUSE_ATTR_DAX (offset 84).
  public var flags: UInt32
  /// Attributes with these fields (zero by default).
  public init(
    ino: UInt64, size: UInt64 = 0, blocks: UInt64 = 0, atime: UInt64 = 0, mtime: UInt64 = 0,
    ctime: UInt64 = 0, atimensec: UInt32 = 0, mtimensec: UInt32 = 0, ctimensec: UInt32 = 0,
    mode: UInt32, nlink: UInt32 = 1, uid: UInt32 = 0, gid: UInt32 = 0, rdev: UInt32 = 0,
    blksize: UInt32 = 4096, flags: UInt32 = 0
  ) {
    self.ino = ino
    self.size = size
    self.blocks = blocks
    self.atime = atime
    self.mtime = mtime
    self.ctime = ctime
    self.atimensec = atimensec
    self.mtimensec = mtimensec
    self.ctimensec = ctimensec
    self.mode = mode
    self.nlink = nlink
    self.uid = uid
    self.gid = gid
    self.rdev = rdev
    self.blksize = blksize
    self.flags = flags
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    ino = wire.u64(at: 0)
    size = wire.u64(at: 8)
    blocks = wire.u64(at: 16)
    atime = wire.u64(at: 24)
    mtime = wire.u64(at: 32)
    ctime = wire.u64(at: 40)
    atimensec = wire.u32(at: 48)
    mtimensec = wire.u32(at: 52)
    ctimensec = wire.u32(at: 56)
    mode = wire.u32(at: 60)
    nlink = wire.u32(at: 64)
    uid = wire.u32(at: 68)
    gid = wire.u32(at: 72)
    rdev = wire.u32(at: 76)
    blksize = wire.u32(at: 80)
    flags = wire.u32(at: 84)
  }
  /// Appends the 88 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(ino)
    w.u64(size)
    w.u64(blocks)
    w.u64(atime)
    w.u64(mtime)
    w.u64(ctime)
    w.u32(atimensec)
    w.u32(mtimensec)
    w.u32(ctimensec)
    w.u32(mode)
    w.u32(nlink)
    w.u32(uid)
    w.u32(gid)
    w.u32(rdev)
    w.u32(blksize)
    w.u32(flags)
  }
}

/// `struct fuse_entry_out` (128 bytes): the reply to LOOKUP, MKNOD, MKDIR,
/// SYMLINK, LINK, and the first half of CREATE's. Node id 0 with a timeout is a
/// negative entry the kernel caches.
public struct FuseEntryOut: FuseWireStruct {
  /// 128 bytes.
  public static let wireSize = 128
  /// FUSE_COMPAT_ENTRY_OUT_SIZE: the size for minor < 9 (fuse_attr without blksize/flags).
  public static let compatSize = 120
  /// Node id, or 0 for a negative entry (offset 0).
  public var nodeid: UInt64
  /// Generation: nodeid and generation are unique for the mount's life (offset 8).
  public var generation: UInt64
  /// Name cache timeout, seconds (offset 16).
  public var entryValid: UInt64
  /// Attribute cache timeout, seconds (offset 24).
  public var attrValid: UInt64
  /// Name cache timeout, nanoseconds (offset 32).
  public var entryValidNsec: UInt32
  /// Attribute cache timeout, nanoseconds (offset 36).
  public var attrValidNsec: UInt32
  /// The attributes (offset 40).
  public var attr: FuseAttr
  /// An entry with these fields.
  public init(
    nodeid: UInt64, generation: UInt64, entryValid: UInt64 = 0, attrValid: UInt64 = 0,
    entryValidNsec: UInt32 = 0, attrValidNsec: UInt32 = 0, attr: FuseAttr
  ) {
    self.nodeid = nodeid
    self.generation = generation
    self.entryValid = entryValid
    self.attrValid = attrValid
    self.entryValidNsec = entryValidNsec
    self.attrValidNsec = attrValidNsec
    self.attr = attr
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    nodeid = wire.u64(at: 0)
    generation = wire.u64(at: 8)
    entryValid = wire.u64(at: 16)
    attrValid = wire.u64(at: 24)
    entryValidNsec = wire.u32(at: 32)
    attrValidNsec = wire.u32(at: 36)
    attr = FuseAttr(wire: wire.suffix(from: 40) ?? FuseWireBytes([]))
  }
  /// Appends the 128 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(nodeid)
    w.u64(generation)
    w.u64(entryValid)
    w.u64(attrValid)
    w.u32(entryValidNsec)
    w.u32(attrValidNsec)
    attr.encode(into: &w)
  }
}

/// `struct fuse_attr_out` (104 bytes): the reply to GETATTR and SETATTR.
public struct FuseAttrOut: FuseWireStruct {
  /// 104 bytes.
  public static let wireSize = 104
  /// FUSE_COMPAT_ATTR_OUT_SIZE: the size for minor < 9.
  public static let compatSize = 96
  /// Attribute cache timeout, seconds (offset 0).
  public var attrValid: UInt64
  /// Attribute cache timeout, nanoseconds (offset 8).
  public var attrValidNsec: UInt32
  /// The attributes (offset 16).
  public var attr: FuseAttr
  /// A reply body with these fields.
  public init(attrValid: UInt64 = 0, attrValidNsec: UInt32 = 0, attr: FuseAttr) {
    self.attrValid = attrValid
    self.attrValidNsec = attrValidNsec
    self.attr = attr
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    attrValid = wire.u64(at: 0)
    attrValidNsec = wire.u32(at: 8)
    attr = FuseAttr(wire: wire.suffix(from: 16) ?? FuseWireBytes([]))
  }
  /// Appends the 104 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(attrValid)
    w.u32(attrValidNsec)
    w.zeros(4)
    attr.encode(into: &w)
  }
}

/// `struct fuse_open_out` (16 bytes): the reply to OPEN and OPENDIR, and CREATE's second half.
public struct FuseOpenOut: FuseWireStruct {
  /// 16 bytes.
  public static let wireSize = 16
  /// FOPEN_DIRECT_IO: bypass the page cache.
  public static let directIO: UInt32 = 1 << 0
  /// FOPEN_KEEP_CACHE: keep cached data on open.
  public static let keepCache: UInt32 = 1 << 1
  /// FOPEN_NONSEEKABLE: the file is not seekable.
  public static let nonseekable: UInt32 = 1 << 2
  /// FOPEN_CACHE_DIR: the kernel may cache the directory's entries.
  public static let cacheDir: UInt32 = 1 << 3
  /// FOPEN_STREAM: a stream, no file position.
  public static let stream: UInt32 = 1 << 4
  /// FOPEN_NOFLUSH: no FLUSH on close.
  public static let noflush: UInt32 = 1 << 5
  /// FOPEN_PARALLEL_DIRECT_WRITES: parallel direct writes to one file.
  public static let parallelDirectWrites: UInt32 = 1 << 6
  /// FOPEN_PASSTHROUGH (7.40): reads and writes go to the backing file `backingID`.
  public static let passthrough: UInt32 = 1 << 7
  /// The handle the kernel sends back (offset 0).
  public var fh: UInt64
  /// FOPEN_* flags (offset 8).
  public var openFlags: UInt32
  /// The backing file with FOPEN_PASSTHROUGH (offset 12, 7.40; padding before).
  public var backingID: Int32
  /// A reply body with these fields.
  public init(fh: UInt64, openFlags: UInt32 = 0, backingID: Int32 = 0) {
    self.fh = fh
    self.openFlags = openFlags
    self.backingID = backingID
  }
  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    fh = wire.u64(at: 0)
    openFlags = wire.u32(at: 8)
    backingID = wire.i32(at: 12)
  }
  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u64(fh)
    w.u32(openFlags)
    w.i32(backingID)
  }
}

/// `struct fuse_write_out` (8 bytes): the reply to WRITE.
public struct FuseWriteOut: FuseWireStruct {
  /// 8 bytes.
  public static let wireSize = 8
  /// Bytes written (offset 0).
  public var size: UInt32
  /// A reply body with this field.
  public init(size: UInt32) { self.size = size }
  /// Reads the field.
  public init(wire: FuseWireBytes) { size = wire.u32(at: 0) }
  /// Appends the 8 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(size)
    w.zeros(4)
  }
}

/// Builds whole replies (out header + body) at the sizes the negotiated minor
/// expects, like fuse_lowlevel.c's fuse_reply_entry() / fuse_reply_attr().
public struct FuseReplyEncoder: Sendable {
  /// The negotiated minor; replies to older minors use the compat sizes.
  public var minor: UInt32

  /// An encoder for a connection that agreed on `minor`.
  public init(minor: UInt32 = FuseProtocolVersion.minor) { self.minor = minor }

  /// An error reply: the header alone, carrying `-errno`.
  public func error(unique: UInt64, _ errno: Errno) -> [UInt8] {
    reply(unique: unique, error: -errno.rawValue, body: [])
  }

  /// A success with no body (RELEASE, FLUSH, FSYNC, UNLINK ...).
  public func empty(unique: UInt64) -> [UInt8] { reply(unique: unique, error: 0, body: []) }

  /// A success carrying `body` as it is (READ data, xattr values, dirents).
  public func data(unique: UInt64, _ body: [UInt8]) -> [UInt8] {
    reply(unique: unique, error: 0, body: body)
  }

  /// The reply to LOOKUP, MKNOD, MKDIR, SYMLINK, LINK: 128 bytes, 120 for minor < 9.
  public func entry(unique: UInt64, _ entry: FuseEntryOut) -> [UInt8] {
    var body = entry.wireBytes
    if minor < 9 { body.removeLast(FuseEntryOut.wireSize - FuseEntryOut.compatSize) }
    return reply(unique: unique, error: 0, body: body)
  }

  /// The reply to GETATTR and SETATTR: 104 bytes, 96 for minor < 9.
  public func attr(unique: UInt64, _ attr: FuseAttrOut) -> [UInt8] {
    var body = attr.wireBytes
    if minor < 9 { body.removeLast(FuseAttrOut.wireSize - FuseAttrOut.compatSize) }
    return reply(unique: unique, error: 0, body: body)
  }

  /// The reply to OPEN and OPENDIR.
  public func open(unique: UInt64, _ open: FuseOpenOut) -> [UInt8] {
    reply(unique: unique, error: 0, body: open.wireBytes)
  }

  /// The reply to CREATE: an entry then an open reply, entry shortened for minor < 9.
  public func create(unique: UInt64, _ entry: FuseEntryOut, _ open: FuseOpenOut) -> [UInt8] {
    var body = entry.wireBytes
    if minor < 9 { body.removeLast(FuseEntryOut.wireSize - FuseEntryOut.compatSize) }
    body += open.wireBytes
    return reply(unique: unique, error: 0, body: body)
  }

  /// The reply to WRITE.
  public func write(unique: UInt64, _ out: FuseWriteOut) -> [UInt8] {
    reply(unique: unique, error: 0, body: out.wireBytes)
  }

  /// The reply to INIT, sized for the kernel's own minor (`kernelMinor`, from
  /// fuse_init_in), not the agreed one: 8 bytes before 7.5, 24 before 7.23, else 64.
  public func initReply(unique: UInt64, _ out: FuseInitOut, kernelMinor: UInt32) -> [UInt8] {
    var body = out.wireBytes
    body.removeLast(FuseInitOut.wireSize - FuseInitOut.replySize(kernelMinor: kernelMinor))
    return reply(unique: unique, error: 0, body: body)
  }

  /// fuse_out_header (its len the total) followed by `body`.
  private func reply(unique: UInt64, error: Int32, body: [UInt8]) -> [UInt8] {
    var w = FuseWireWriter(capacity: FuseOutHeader.wireSize + body.count)
    FuseOutHeader(
      len: UInt32(truncatingIfNeeded: FuseOutHeader.wireSize + body.count), error: error,
      unique: unique
    )
    .encode(into: &w)
    w.raw(body)
    return w.bytes
  }
}
