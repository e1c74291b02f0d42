// The bytes of one /dev/fuse message, read and written at explicit offsets in
// little-endian order (the kernel's layout on every Linux that runs FUSE here),
// never through Swift struct layout. Every read is bounds-checked: this is the
// daemon's own copy_from_user(), so no byte from the kernel can make it trap.

/// A read-only window on a message's bytes: a request, or one argument of it.
///
/// Reads at an offset outside the window return zero instead of trapping; the
/// decoder checks every size before it reads, so a zero seen here is a bug in a
/// size table, never an out-of-bounds access. Sub-windows share the storage
/// (no copy of a 1 MiB WRITE payload).
public struct FuseWireBytes: Sendable, Equatable, CustomStringConvertible {
  /// The whole buffer this window looks into.
  public let storage: [UInt8]
  /// Where the window starts in `storage`.
  public let start: Int
  /// How many bytes the window holds.
  public let count: Int

  /// A window on all of `bytes`.
  public init(_ bytes: [UInt8]) {
    storage = bytes
    start = 0
    count = bytes.count
  }

  /// A window on `count` bytes of `storage` from `start`; the caller has checked the range.
  private init(storage: [UInt8], start: Int, count: Int) {
    self.storage = storage
    self.start = start
    self.count = count
  }

  /// The bytes of the window, copied out.
  public var bytes: [UInt8] { Array(storage[start..<start + count]) }

  /// "N bytes", for error messages and test failures.
  public var description: String { "\(count) bytes" }

  /// Two windows are equal when they hold the same bytes, wherever they sit.
  public static func == (a: FuseWireBytes, b: FuseWireBytes) -> Bool {
    a.count == b.count
      && a.storage[a.start..<a.start + a.count] == b.storage[b.start..<b.start + b.count]
  }

  /// Whether `length` bytes at `offset` lie inside the window (overflow-safe).
  public func contains(offset: Int, length: Int) -> Bool {
    offset >= 0 && length >= 0 && offset <= count && length <= count - offset
  }

  /// The sub-window of `length` bytes at `offset`, or nil when it does not fit.
  public func window(at offset: Int, length: Int) -> FuseWireBytes? {
    guard contains(offset: offset, length: length) else { return nil }
    return FuseWireBytes(storage: storage, start: start + offset, count: length)
  }

  /// The sub-window from `offset` to the end, or nil when `offset` is past it.
  public func suffix(from offset: Int) -> FuseWireBytes? {
    window(at: offset, length: count - offset)
  }

  /// The byte at `offset`, or 0 outside the window.
  public func u8(at offset: Int) -> UInt8 {
    contains(offset: offset, length: 1) ? storage[start + offset] : 0
  }

  /// The little-endian UInt16 at `offset`, or 0 when it does not fit.
  public func u16(at offset: Int) -> UInt16 {
    UInt16(truncatingIfNeeded: little(at: offset, width: 2))
  }

  /// The little-endian UInt32 at `offset`, or 0 when it does not fit.
  public func u32(at offset: Int) -> UInt32 {
    UInt32(truncatingIfNeeded: little(at: offset, width: 4))
  }

  /// The little-endian Int32 at `offset` (an errno, a result), or 0.
  public func i32(at offset: Int) -> Int32 { Int32(bitPattern: u32(at: offset)) }

  /// The little-endian UInt64 at `offset`, or 0 when it does not fit.
  public func u64(at offset: Int) -> UInt64 { little(at: offset, width: 8) }

  /// The little-endian Int64 at `offset` (a signed time or offset), or 0.
  public func i64(at offset: Int) -> Int64 { Int64(bitPattern: u64(at: offset)) }

  /// The offset of the first NUL at or after `offset`, or nil when the window has none.
  public func firstNUL(from offset: Int) -> Int? {
    guard offset >= 0 else { return nil }
    var i = offset
    while i < count {
      if storage[start + i] == 0 { return i }
      i += 1
    }
    return nil
  }

  /// `width` bytes at `offset` assembled little-endian; 0 when they do not fit.
  private func little(at offset: Int, width: Int) -> UInt64 {
    guard contains(offset: offset, length: width) else { return 0 }
    var value: UInt64 = 0
    var i = width - 1
    while i >= 0 {
      value = value << 8 | UInt64(storage[start + offset + i])
      i -= 1
    }
    return value
  }
}

/// Builds a reply (or, in tests, a request) field by field, little-endian.
public struct FuseWireWriter: Sendable {
  /// The bytes written so far.
  public private(set) var bytes: [UInt8] = []

  /// An empty writer, with room reserved for `capacity` bytes.
  public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

  /// Appends one byte.
  public mutating func u8(_ v: UInt8) { bytes.append(v) }
  /// Appends a little-endian UInt16.
  public mutating func u16(_ v: UInt16) { append(UInt64(v), width: 2) }
  /// Appends a little-endian UInt32.
  public mutating func u32(_ v: UInt32) { append(UInt64(v), width: 4) }
  /// Appends a little-endian Int32.
  public mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
  /// Appends a little-endian UInt64.
  public mutating func u64(_ v: UInt64) { append(v, width: 8) }
  /// Appends a little-endian Int64.
  public mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
  /// Appends `n` zero bytes (padding, unused fields).
  public mutating func zeros(_ n: Int) {
    if n > 0 { bytes.append(contentsOf: repeatElement(0, count: n)) }
  }
  /// Appends raw bytes (a name, a payload).
  public mutating func raw<S: Sequence>(_ s: S) where S.Element == UInt8 {
    bytes.append(contentsOf: s)
  }
  /// Appends `name` and its terminating NUL, as the kernel sends names.
  public mutating func cString(_ name: [UInt8]) {
    bytes.append(contentsOf: name)
    bytes.append(0)
  }
  /// Overwrites the little-endian UInt32 at `offset` (a length known only at the end).
  public mutating func patchU32(_ v: UInt32, at offset: Int) {
    guard offset >= 0, offset + 4 <= bytes.count else { return }
    for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
  }
  /// Cuts the bytes back to `count` (a reply shortened for an old protocol minor).
  public mutating func truncate(to count: Int) {
    if count >= 0, count < bytes.count { bytes.removeLast(bytes.count - count) }
  }

  private mutating func append(_ v: UInt64, width: Int) {
    for i in 0..<width { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
  }
}

/// A structure of the FUSE wire protocol with a fixed size: decoded from the
/// first `wireSize` bytes of a window, encoded to exactly `wireSize` bytes.
public protocol FuseWireStruct: Sendable, Equatable {
  /// Its size in bytes, as `sizeof` in linux/fuse.h.
  static var wireSize: Int { get }
  /// Reads the fields at their offsets; the caller has checked `wire.count >= wireSize`.
  init(wire: FuseWireBytes)
  /// Appends exactly `wireSize` bytes.
  func encode(into w: inout FuseWireWriter)
}

extension FuseWireStruct {
  /// Decodes from the start of `wire`, or nil when it is shorter than `wireSize`.
  public static func decode(_ wire: FuseWireBytes) -> Self? {
    wire.count >= wireSize ? Self(wire: wire) : nil
  }

  /// Its `wireSize` bytes.
  public var wireBytes: [UInt8] {
    var w = FuseWireWriter(capacity: Self.wireSize)
    encode(into: &w)
    return w.bytes
  }
}
