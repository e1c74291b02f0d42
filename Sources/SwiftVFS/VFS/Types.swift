#if canImport(Glibc)
  import Glibc
#endif

/// A point in time with nanoseconds, as `struct timespec64` in an inode.
public struct Timestamp: Hashable, Sendable, Comparable {
  public var sec: Int64
  public var nsec: Int32

  public init(sec: Int64, nsec: Int32 = 0) {
    self.sec = sec
    self.nsec = nsec
  }

  /// Like current_time(): the real-time clock.
  public static var now: Timestamp {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Timestamp(sec: Int64(ts.tv_sec), nsec: Int32(ts.tv_nsec))
  }

  public static func < (a: Timestamp, b: Timestamp) -> Bool {
    (a.sec, a.nsec) < (b.sec, b.nsec)
  }
}

/// Who asks: the caller's fsuid, fsgid and pid (the kernel's `current_cred()`),
/// taken from the FUSE request context.
public struct Cred: Sendable, Hashable {
  public var uid: UInt32
  public var gid: UInt32
  public var pid: Int32
  /// The caller's umask, for creating calls (0 elsewhere); applied by the
  /// VFS unless a default ACL decides the mode (PosixAcl.create).
  public var umask: UInt32 = 0

  public init(uid: UInt32, gid: UInt32, pid: Int32 = 0) {
    self.uid = uid
    self.gid = gid
    self.pid = pid
  }

  public static let root = Cred(uid: 0, gid: 0)
  public var isRoot: Bool { uid == 0 }
}

/// One path component: bytes, as the kernel stores names (not necessarily UTF-8).
///
/// A `FileName` is always valid: not empty, no `/`, no NUL, at most 255 bytes
/// (NAME_MAX). "." and ".." are valid names (a directory listing holds them);
/// the VFS refuses them where the syscalls do. So a name a file system hands
/// out (from `lookup` or `iterate`) can never break a listing.
///
/// Runtime strings and bytes go through the throwing initializers (EINVAL,
/// ENAMETOOLONG). A string literal (`"hello"`) is checked when it is made,
/// and an invalid literal stops the program: it is a programming error.
public struct FileName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
  public static let maxLength = 255  // NAME_MAX

  public let bytes: [UInt8]

  /// A checked name from bytes: ENAMETOOLONG past 255 bytes, EINVAL for an
  /// empty name or one holding `/` or NUL (like the kernel's name checks in
  /// getname() and the path walk).
  public init(_ bytes: [UInt8]) throws(Errno) {
    if let error = FileName.problem(bytes) { throw error }
    self.bytes = bytes
  }

  /// A checked name from a string's UTF-8 bytes (same errnos as from bytes).
  public init(_ string: String) throws(Errno) {
    try self.init(Array(string.utf8))
  }

  /// A name written in the source: an invalid literal is a programming error
  /// and stops the program with a message naming it.
  public init(stringLiteral value: String) {
    let bytes = Array(value.utf8)
    if let error = FileName.problem(bytes) {
      preconditionFailure("invalid FileName literal \"\(value)\": \(error)")
    }
    self.bytes = bytes
  }

  /// Not checked: for the VFS's own keys (a mount's path in the dcache),
  /// never for a name that came from outside.
  init(unchecked bytes: [UInt8]) { self.bytes = bytes }

  /// "/": the dcache key of the root mount (parent 0), never a real name.
  package static let rootKey = FileName(unchecked: [0x2f])

  /// Checks a name from user space: ENAMETOOLONG past 255 bytes, EINVAL for an
  /// empty name or one holding `/` or NUL.
  public static func validated(_ bytes: [UInt8]) throws(Errno) -> FileName {
    try FileName(bytes)
  }

  /// Why `bytes` is not a valid name, or nil if it is.
  static func problem(_ bytes: [UInt8]) -> Errno? {
    guard bytes.count <= maxLength else { return .ENAMETOOLONG }
    guard !bytes.isEmpty, !bytes.contains(0x2f), !bytes.contains(0) else { return .EINVAL }
    return nil
  }

  /// Hashes the bytes in one call (the synthesized hash fed them one at a
  /// time, which showed in dcache lookups).
  public func hash(into hasher: inout Hasher) {
    bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
  }

  public static func == (a: FileName, b: FileName) -> Bool { a.bytes == b.bytes }

  public var isDotOrDotDot: Bool {
    bytes == [0x2e] || bytes == [0x2e, 0x2e]
  }

  public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// The file type bits of a mode (S_IFMT), with the d_type readdir reports.
public enum FileType: UInt32, Sendable {
  case fifo = 0o010000
  case characterDevice = 0o020000
  case directory = 0o040000
  case blockDevice = 0o060000
  case regular = 0o100000
  case symlink = 0o120000
  case socket = 0o140000

  public static let mask: UInt32 = 0o170000

  public init?(mode: UInt32) { self.init(rawValue: mode & FileType.mask) }

  /// DT_* value for readdir: the type bits shifted down, as fs_umode_to_dtype().
  public var direntType: UInt8 { UInt8(rawValue >> 12) }
}

public enum ModeBits {
  public static let setuid: UInt32 = 0o4000
  public static let setgid: UInt32 = 0o2000
  public static let sticky: UInt32 = 0o1000
  public static let permissions: UInt32 = 0o7777
  public static let groupExec: UInt32 = 0o010
}

/// What getattr reports: the fields of `struct kstat`.
public struct Stat: Sendable, Equatable {
  public var ino: UInt64
  public var mode: UInt32
  public var nlink: UInt32
  public var uid: UInt32
  public var gid: UInt32
  public var rdev: DevT
  public var size: Int64
  public var blocks: Int64  // 512-byte units
  public var blockSize: Int32
  public var atime: Timestamp
  public var mtime: Timestamp
  public var ctime: Timestamp
  public var generation: UInt64
}

/// A setattr request, like `struct iattr`: each field set is a change asked for.
public struct SetAttr: Sendable {
  public enum TimeChange: Sendable, Equatable {
    case now  // UTIME_NOW
    case to(Timestamp)
  }

  public var mode: UInt32?
  public var uid: UInt32?
  public var gid: UInt32?
  public var size: Int64?
  public var atime: TimeChange?
  public var mtime: TimeChange?
  public var ctime: Timestamp?

  public init(
    mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: Int64? = nil,
    atime: TimeChange? = nil, mtime: TimeChange? = nil, ctime: Timestamp? = nil
  ) {
    self.mode = mode
    self.uid = uid
    self.gid = gid
    self.size = size
    self.atime = atime
    self.mtime = mtime
    self.ctime = ctime
  }

  public var isEmpty: Bool {
    mode == nil && uid == nil && gid == nil && size == nil && atime == nil && mtime == nil
      && ctime == nil
  }
}

/// statfs(2) for one superblock.
public struct StatFS: Sendable, Equatable {
  public var blockSize: UInt64
  public var blocks: UInt64
  public var blocksFree: UInt64
  public var blocksAvailable: UInt64
  public var files: UInt64
  public var filesFree: UInt64
  public var nameMax: UInt64
}

/// One directory entry as readdir produces it. `offset` is the cookie that
/// resumes the listing after this entry (telldir).
public struct DirEntry: Sendable {
  public var name: FileName
  public var ino: UInt64
  public var type: FileType
  public var offset: Int64
  /// The entry's inode, for readdirplus; nil for "." and "..".
  public var inode: Inode?

  public init(name: FileName, ino: UInt64, type: FileType, offset: Int64, inode: Inode?) {
    self.name = name
    self.ino = ino
    self.type = type
    self.offset = offset
    self.inode = inode
  }
}

/// Flags of rename2(2).
public struct RenameFlags: OptionSet, Sendable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let noReplace = RenameFlags(rawValue: 1)  // RENAME_NOREPLACE
  public static let exchange = RenameFlags(rawValue: 2)  // RENAME_EXCHANGE
  public static let whiteout = RenameFlags(rawValue: 4)  // RENAME_WHITEOUT
}

/// poll(2) event bits.
public struct PollEvents: OptionSet, Sendable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  public static let readable = PollEvents(rawValue: UInt32(POLLIN))
  public static let priority = PollEvents(rawValue: UInt32(POLLPRI))
  public static let writable = PollEvents(rawValue: UInt32(POLLOUT))
  public static let error = PollEvents(rawValue: UInt32(POLLERR))
  public static let hangup = PollEvents(rawValue: UInt32(POLLHUP))
  public static let readNormal = PollEvents(rawValue: UInt32(POLLRDNORM))
  public static let writeNormal = PollEvents(rawValue: UInt32(POLLWRNORM))
  /// DEFAULT_POLLMASK: what a file without a poll op reports.
  public static let `default`: PollEvents = [.readable, .writable, .readNormal, .writeNormal]
}

/// Something to wake when a polled file becomes ready (a FUSE poll handle at
/// the bridge; the kernel's wait queue entry).
public protocol PollWaiter: AnyObject, Sendable {
  func wake()
}
