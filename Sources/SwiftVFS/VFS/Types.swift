#if canImport(Glibc)
  import Glibc
#endif

/// A point in time with nanoseconds, as `struct timespec64` in an inode.
public struct Timestamp: Hashable, Sendable, Comparable {
  /// Seconds since the epoch (tv_sec).
  public var sec: Int64
  /// Nanoseconds within the second (tv_nsec), 0 to 999,999,999.
  public var nsec: Int32

  /// A time from seconds and nanoseconds.
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

  /// Orders by seconds, then nanoseconds.
  public static func < (a: Timestamp, b: Timestamp) -> Bool {
    (a.sec, a.nsec) < (b.sec, b.nsec)
  }
}

/// Who asks: the caller's fsuid, fsgid and pid (the kernel's `current_cred()`),
/// taken from the FUSE request context.
public struct Cred: Sendable, Hashable {
  /// The caller's file-system user id (fsuid).
  public var uid: UInt32
  /// The caller's file-system group id (fsgid).
  public var gid: UInt32
  /// The caller's process id (0 when unknown).
  public var pid: Int32
  /// The caller's umask, for creating calls (0 elsewhere); applied by the
  /// VFS unless a default ACL decides the mode (PosixAcl.create).
  public var umask: UInt32 = 0

  /// A caller with these ids and no umask.
  public init(uid: UInt32, gid: UInt32, pid: Int32 = 0) {
    self.uid = uid
    self.gid = gid
    self.pid = pid
  }

  /// uid 0, gid 0: the superuser.
  public static let root = Cred(uid: 0, gid: 0)
  /// Whether the caller is uid 0.
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
  /// The longest name in bytes: 255 (NAME_MAX).
  public static let maxLength = 255  // NAME_MAX

  /// The name's bytes, without a terminating NUL.
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

  /// Names are equal when their bytes are.
  public static func == (a: FileName, b: FileName) -> Bool { a.bytes == b.bytes }

  /// Whether the name is "." or "..".
  public var isDotOrDotDot: Bool {
    bytes == [0x2e] || bytes == [0x2e, 0x2e]
  }

  /// The name as text, decoded as UTF-8 (invalid bytes become U+FFFD).
  public var description: String { String(decoding: bytes, as: UTF8.self) }
}

/// The file type bits of a mode (S_IFMT), with the d_type readdir reports.
public enum FileType: UInt32, Sendable {
  /// A named pipe (S_IFIFO).
  case fifo = 0o010000
  /// A character device node (S_IFCHR).
  case characterDevice = 0o020000
  /// A directory (S_IFDIR).
  case directory = 0o040000
  /// A block device node (S_IFBLK).
  case blockDevice = 0o060000
  /// A regular file (S_IFREG).
  case regular = 0o100000
  /// A symbolic link (S_IFLNK).
  case symlink = 0o120000
  /// A socket (S_IFSOCK).
  case socket = 0o140000

  /// The type bits of a mode (S_IFMT).
  public static let mask: UInt32 = 0o170000

  /// The type of `mode`, or nil if its type bits name none.
  public init?(mode: UInt32) { self.init(rawValue: mode & FileType.mask) }

  /// DT_* value for readdir: the type bits shifted down, as fs_umode_to_dtype().
  public var direntType: UInt8 { UInt8(rawValue >> 12) }
}

/// The permission bits of a mode beyond the file type (include/linux/stat.h).
public enum ModeBits {
  /// Set-user-ID on execution (S_ISUID).
  public static let setuid: UInt32 = 0o4000
  /// Set-group-ID (S_ISGID): on a directory, new entries take its group.
  public static let setgid: UInt32 = 0o2000
  /// Sticky (S_ISVTX): in a directory, only owners may remove or rename entries.
  public static let sticky: UInt32 = 0o1000
  /// All mode bits chmod can change (S_ISUID, S_ISGID, S_ISVTX and rwx).
  public static let permissions: UInt32 = 0o7777
  /// Group execute (S_IXGRP).
  public static let groupExec: UInt32 = 0o010
}

/// What getattr reports: the fields of `struct kstat`.
public struct Stat: Sendable, Equatable {
  /// The inode number (st_ino).
  public var ino: UInt64
  /// Type and permission bits (st_mode).
  public var mode: UInt32
  /// The number of hard links (st_nlink).
  public var nlink: UInt32
  /// The owner's user id (st_uid).
  public var uid: UInt32
  /// The owner's group id (st_gid).
  public var gid: UInt32
  /// The device number of a device node (st_rdev).
  public var rdev: DevT
  /// The size in bytes (st_size).
  public var size: Int64
  /// Storage held, in 512-byte units (st_blocks).
  public var blocks: Int64  // 512-byte units
  /// The preferred I/O size (st_blksize).
  public var blockSize: Int32
  /// Last access (st_atime).
  public var atime: Timestamp
  /// Last change to content (st_mtime).
  public var mtime: Timestamp
  /// Last change to the inode (st_ctime).
  public var ctime: Timestamp
  /// The inode's generation, which tells a reused number apart (i_generation).
  public var generation: UInt64
  /// When the inode was made (statx's stx_btime, STATX_BTIME), never changed
  /// after; nil if the file system keeps no birth time (statx then leaves
  /// STATX_BTIME out of stx_mask, as ext2 does).
  public var btime: Timestamp? = nil
}

/// A setattr request, like `struct iattr`: each field set is a change asked for.
public struct SetAttr: Sendable {
  /// How a time is to change: to now (UTIME_NOW) or to a given time.
  public enum TimeChange: Sendable, Equatable {
    /// The current time (UTIME_NOW).
    case now  // UTIME_NOW
    /// A time the caller gives (utimensat(2)).
    case to(Timestamp)
  }

  /// New permission bits (ATTR_MODE, chmod).
  public var mode: UInt32?
  /// New owner (ATTR_UID, chown).
  public var uid: UInt32?
  /// New group (ATTR_GID, chown).
  public var gid: UInt32?
  /// New size (ATTR_SIZE, truncate).
  public var size: Int64?
  /// New access time (ATTR_ATIME).
  public var atime: TimeChange?
  /// New modification time (ATTR_MTIME).
  public var mtime: TimeChange?
  /// New change time (ATTR_CTIME).
  public var ctime: Timestamp?

  /// A request that changes the fields given and nothing else.
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

  /// Whether nothing is asked to change.
  public var isEmpty: Bool {
    mode == nil && uid == nil && gid == nil && size == nil && atime == nil && mtime == nil
      && ctime == nil
  }
}

/// statfs(2) for one superblock.
public struct StatFS: Sendable, Equatable {
  /// The block size the counts below use (f_bsize).
  public var blockSize: UInt64
  /// Size of the file system in blocks (f_blocks).
  public var blocks: UInt64
  /// Free blocks (f_bfree).
  public var blocksFree: UInt64
  /// Free blocks for unprivileged users (f_bavail).
  public var blocksAvailable: UInt64
  /// Inodes in all (f_files).
  public var files: UInt64
  /// Free inodes (f_ffree).
  public var filesFree: UInt64
  /// The longest name (f_namelen).
  public var nameMax: UInt64

  /// Statistics with every field given (a disk file system fills them from
  /// its superblock, as ext2_statfs() does).
  public init(
    blockSize: UInt64, blocks: UInt64, blocksFree: UInt64, blocksAvailable: UInt64,
    files: UInt64, filesFree: UInt64, nameMax: UInt64
  ) {
    self.blockSize = blockSize
    self.blocks = blocks
    self.blocksFree = blocksFree
    self.blocksAvailable = blocksAvailable
    self.files = files
    self.filesFree = filesFree
    self.nameMax = nameMax
  }
}

/// One directory entry as readdir produces it. `offset` is the cookie that
/// resumes the listing after this entry (telldir).
public struct DirEntry: Sendable {
  /// The entry's name (d_name).
  public var name: FileName
  /// The entry's inode number (d_ino).
  public var ino: UInt64
  /// The entry's file type (d_type).
  public var type: FileType
  /// The cookie that resumes the listing after this entry (d_off).
  public var offset: Int64
  /// The entry's inode, for readdirplus; nil for "." and "..".
  public var inode: Inode?

  /// An entry; `inode` is nil for "." and "..".
  public init(name: FileName, ino: UInt64, type: FileType, offset: Int64, inode: Inode?) {
    self.name = name
    self.ino = ino
    self.type = type
    self.offset = offset
    self.inode = inode
  }
}

/// One directory entry lent to a listing of names
/// (`FileOperations.iterateNames`), like the arguments dir_emit() hands a
/// filldir callback: `name` points into the file system's own storage (a
/// directory block, a `FileName`) and is valid only during the call that
/// hands the entry over; copy it out, never keep it.
public struct DirEntryView {
  /// The entry's name (d_name): checked like a `FileName` (1 to 255
  /// bytes, no `/` or NUL), borrowed for the call only.
  public let name: UnsafeRawBufferPointer
  /// The entry's inode number (d_ino).
  public let ino: UInt64
  /// The entry's file type (d_type).
  public let type: FileType
  /// The cookie that resumes the listing after this entry (d_off).
  public let offset: Int64
  /// The entry's inode when the file system has it at hand; it must be
  /// given for a character device (which way its node shows depends on its
  /// number: `VFS.shownType`), may be nil for anything else, and is nil for
  /// "." and "..".
  public let inode: Inode?

  /// An entry whose name is borrowed for the call that hands it over.
  public init(
    name: UnsafeRawBufferPointer, ino: UInt64, type: FileType, offset: Int64, inode: Inode?
  ) {
    self.name = name
    self.ino = ino
    self.type = type
    self.offset = offset
    self.inode = inode
  }

  /// Whether the name is "." or "..".
  public var isDotOrDotDot: Bool { DirEntryView.isDotOrDotDot(name) }

  /// Whether `name` is "." or "..".
  @inlinable  // called per entry from file systems' listing loops
  public static func isDotOrDotDot(_ name: UnsafeRawBufferPointer) -> Bool {
    switch name.count {
    case 1: name[0] == 0x2E
    case 2: name[0] == 0x2E && name[1] == 0x2E
    default: false
    }
  }

  /// Whether `bytes` is a name a listing may show (as `FileName` checks
  /// it): 1 to 255 bytes, none of them `/` or NUL.
  @inlinable  // called per entry from file systems' listing loops
  public static func isShowableName(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard !bytes.isEmpty, bytes.count <= FileName.maxLength else { return false }
    // One pass over a short name: cheaper than a memchr call per byte value.
    for byte in bytes where byte == 0 || byte == 0x2F { return false }
    return true
  }
}

/// Flags of rename2(2).
public struct RenameFlags: OptionSet, Sendable {
  /// The flag bits.
  public let rawValue: UInt32
  /// Flags from their bits.
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// Fail with EEXIST if the target exists (RENAME_NOREPLACE).
  public static let noReplace = RenameFlags(rawValue: 1)  // RENAME_NOREPLACE
  /// Swap source and target atomically (RENAME_EXCHANGE).
  public static let exchange = RenameFlags(rawValue: 2)  // RENAME_EXCHANGE
  /// Leave a whiteout at the source, for overlay file systems (RENAME_WHITEOUT).
  public static let whiteout = RenameFlags(rawValue: 4)  // RENAME_WHITEOUT
}

/// poll(2) event bits.
public struct PollEvents: OptionSet, Sendable {
  /// The event bits.
  public let rawValue: UInt32
  /// Events from their bits.
  public init(rawValue: UInt32) { self.rawValue = rawValue }
  /// Data to read (POLLIN).
  public static let readable = PollEvents(rawValue: UInt32(POLLIN))
  /// Urgent data to read (POLLPRI).
  public static let priority = PollEvents(rawValue: UInt32(POLLPRI))
  /// Writing will not block (POLLOUT).
  public static let writable = PollEvents(rawValue: UInt32(POLLOUT))
  /// An error condition (POLLERR).
  public static let error = PollEvents(rawValue: UInt32(POLLERR))
  /// Hung up (POLLHUP).
  public static let hangup = PollEvents(rawValue: UInt32(POLLHUP))
  /// Normal data to read (POLLRDNORM).
  public static let readNormal = PollEvents(rawValue: UInt32(POLLRDNORM))
  /// Normal data may be written (POLLWRNORM).
  public static let writeNormal = PollEvents(rawValue: UInt32(POLLWRNORM))
  /// DEFAULT_POLLMASK: what a file without a poll op reports.
  public static let `default`: PollEvents = [.readable, .writable, .readNormal, .writeNormal]
}

/// Something to wake when a polled file becomes ready (a FUSE poll handle at
/// the bridge; the kernel's wait queue entry).
public protocol PollWaiter: AnyObject, Sendable {
  /// Wakes the poller: the file may be ready now (the kernel's wake_up on the wait queue).
  func wake()
}
