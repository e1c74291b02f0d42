// struct fuse_in_header and struct fuse_out_header: the first bytes of every
// request the kernel writes to /dev/fuse and of every reply the daemon writes back.

/// `struct fuse_in_header` (40 bytes): what every request starts with.
public struct FuseInHeader: FuseWireStruct {
  /// 40: sizeof(struct fuse_in_header).
  public static let wireSize = 40
  /// The whole request's length, header included (offset 0).
  public var len: UInt32
  /// The opcode number (offset 4); may be one this code does not know.
  public var opcode: UInt32
  /// The request's id, echoed in the reply (offset 8).
  public var unique: UInt64
  /// The inode the request is about (offset 16).
  public var nodeid: UInt64
  /// The caller's fsuid (offset 24).
  public var uid: UInt32
  /// The caller's fsgid (offset 28).
  public var gid: UInt32
  /// The caller's thread group id (offset 32).
  public var pid: UInt32
  /// The length of the extensions at the end of the request, in 8-byte units (offset 36, 7.36).
  public var totalExtlen: UInt16
  /// Padding (offset 38).
  public var padding: UInt16

  /// A header with these fields.
  public init(
    len: UInt32, opcode: UInt32, unique: UInt64, nodeid: UInt64, uid: UInt32 = 0, gid: UInt32 = 0,
    pid: UInt32 = 0, totalExtlen: UInt16 = 0, padding: UInt16 = 0
  ) {
    self.len = len
    self.opcode = opcode
    self.unique = unique
    self.nodeid = nodeid
    self.uid = uid
    self.gid = gid
    self.pid = pid
    self.totalExtlen = totalExtlen
    self.padding = padding
  }

  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    len = wire.u32(at: 0)
    opcode = wire.u32(at: 4)
    unique = wire.u64(at: 8)
    nodeid = wire.u64(at: 16)
    uid = wire.u32(at: 24)
    gid = wire.u32(at: 28)
    pid = wire.u32(at: 32)
    totalExtlen = wire.u16(at: 36)
    padding = wire.u16(at: 38)
  }

  /// Appends the 40 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(len)
    w.u32(opcode)
    w.u64(unique)
    w.u64(nodeid)
    w.u32(uid)
    w.u32(gid)
    w.u32(pid)
    w.u16(totalExtlen)
    w.u16(padding)
  }
}

/// `struct fuse_out_header` (16 bytes): what every reply and notification starts with.
public struct FuseOutHeader: FuseWireStruct {
  /// 16: sizeof(struct fuse_out_header).
  public static let wireSize = 16
  /// The whole reply's length, header included (offset 0).
  public var len: UInt32
  /// 0, or a negative errno (offset 4); a notification's code when `unique` is 0.
  public var error: Int32
  /// The request answered, or 0 for a notification (offset 8).
  public var unique: UInt64

  /// A header with these fields.
  public init(len: UInt32, error: Int32, unique: UInt64) {
    self.len = len
    self.error = error
    self.unique = unique
  }

  /// Reads the fields at their offsets.
  public init(wire: FuseWireBytes) {
    len = wire.u32(at: 0)
    error = wire.i32(at: 4)
    unique = wire.u64(at: 8)
  }

  /// Appends the 16 bytes.
  public func encode(into w: inout FuseWireWriter) {
    w.u32(len)
    w.i32(error)
    w.u64(unique)
  }
}
