import Synchronization

/// An inode: one file system object, whatever names it has. Like `struct inode`.
///
/// Invariants:
/// - `ino` is unique in the VFS for the inode's whole life. A number from
///   the VFS's counter is never reused, so a stale FUSE node id can never
///   name another file; a file system with numbers of its own (a disk's,
///   `SuperBlock.useOwnInodeNumbers`) reuses a freed one with a new
///   `generation`, which the kernel checks, as it does on a disk.
/// - An inode lives while a directory entry names it (nlink > 0), the kernel
///   above holds a lookup on it, or a `File` has it open. When all three are
///   gone the VFS evicts it (`SuperOperations.evictInode`).
///
/// Locking: the attribute fields, `xattrs` and `privateData`'s contents are
/// guarded by `lock`. `lookupCount` and `openCount` belong to the VFS's inode
/// cache and are guarded by its lock. Code holds at most one inode lock at a time.
public final class Inode: @unchecked Sendable {
  /// The inode number, unique in the VFS and never reused (i_ino).
  public let ino: UInt64
  /// Tells this inode from an earlier one of the same number, for file handles (i_generation).
  public let generation: UInt64
  /// The superblock it belongs to (i_sb).
  public unowned let sb: SuperBlock

  /// i_op: namespace and attribute operations.
  public let ops: InodeOperations
  /// i_fop: what `open` installs in a new `File` (chrdev_open may replace it).
  public let fileOps: FileOperations
  /// Whether `ops` and `fileOps` are async operations (AsyncOperations.swift):
  /// two flags, not two existentials, so a memfs inode stays as small.
  package let hasAsyncInodeOps: Bool
  package let hasAsyncFileOps: Bool

  /// Guards the attribute fields, `xattrs` and `privateData`'s contents.
  public let lock = Lock()

  // Guarded by `lock`.
  /// Type and permission bits (i_mode).
  public var mode: UInt32
  /// Hard links to it (i_nlink); a new directory starts at 2.
  public var nlink: UInt32
  /// The owner (i_uid).
  public var uid: UInt32
  /// The group (i_gid).
  public var gid: UInt32
  /// The device number of a device node (i_rdev).
  public var rdev: DevT
  /// The size in bytes (i_size).
  public var size: Int64 = 0
  /// 512-byte blocks of storage actually held (i_blocks).
  public var blocks: Int64 = 0
  /// Last access (i_atime).
  public var atime: Timestamp
  /// Last change to content (i_mtime).
  public var mtime: Timestamp
  /// Last change to the inode (i_ctime).
  public var ctime: Timestamp
  /// Extended attributes kept in the inode (simple_xattrs).
  public var xattrs = Xattrs()
  /// i_acl and i_default_acl: the POSIX ACLs, on a superblock with
  /// `posixAcl` (see PosixAcl.swift).
  public var acl: PosixAcl?
  /// The default ACL new entries of a directory inherit (i_default_acl).
  public var defaultAcl: PosixAcl?
  /// chattr flags (i_flags): immutable, append-only, noatime... (InodeFlags.swift).
  public var attributeFlags: InodeFlags = []
  /// The birth time (i_btime as ext4 and tmpfs keep it): set by the file
  /// system when it makes the inode, never changed; nil if it keeps none.
  public var btime: Timestamp?
  /// I_LINKABLE: an O_TMPFILE inode (made without O_EXCL) that link may give
  /// its first name although nlink is 0; cleared once it has one (vfs_link()).
  public var linkable = false
  /// The file system's own per-inode data (i_private / container_of in C).
  public var privateData: AnyObject?

  /// Whether the kernel above may hold pages of this file in its page cache:
  /// set by the FUSE bridge when it serves a read or write through a cached
  /// handle, cleared when it has the kernel drop them all. Lets O_DIRECT
  /// writes skip dropping cached pages that cannot exist.
  public let kernelMayCachePages = Atomic<Bool>(false)

  // Guarded by the inode cache's lock (see InodeCache).
  package var lookupCount: UInt64 = 0
  package var openCount: Int = 0
  package var evicted = false

  /// A new inode owned by `cred`, with times set to now; its type comes from `mode` (new_inode).
  public init(
    sb: SuperBlock, ino: UInt64, generation: UInt64, mode: UInt32, cred: Cred,
    rdev: DevT = .zero, ops: InodeOperations, fileOps: FileOperations
  ) {
    self.sb = sb
    self.ino = ino
    self.generation = generation
    self.mode = mode
    self.type = FileType(mode: mode) ?? .regular
    self.nlink = FileType(mode: mode) == .directory ? 2 : 1
    self.uid = cred.uid
    self.gid = cred.gid
    self.rdev = rdev
    self.ops = ops
    self.fileOps = fileOps
    self.hasAsyncInodeOps = ops.isAsyncInodeOperations
    self.hasAsyncFileOps = fileOps.isAsyncFileOperations
    if hasAsyncInodeOps || hasAsyncFileOps { AsyncOperationsInUse.note() }
    let now = Timestamp.now
    self.atime = now
    self.mtime = now
    self.ctime = now
  }

  /// For directories: the directory holding this one (the dentry's d_parent),
  /// kept by the VFS under the namespace lock; used for the rename loop check.
  public package(set) weak var parentDirectory: Inode?

  /// The file type, fixed at creation (the type bits of `mode` never change),
  /// so it is read without the lock.
  public let type: FileType
  /// Whether it is a directory (S_ISDIR).
  public var isDirectory: Bool { type == .directory }

  /// Records that the kernel above may now cache pages of this file (cheap
  /// when already recorded: one load on the read path).
  @inline(__always)
  public func noteKernelMayCachePages() {
    if !kernelMayCachePages.load(ordering: .relaxed) {
      kernelMayCachePages.store(true, ordering: .releasing)
    }
  }

  /// Sets mtime and ctime to now, as a change to content does. Caller holds `lock`.
  public func touchModified(_ now: Timestamp = .now) {
    mtime = now
    ctime = now
  }

  /// Sets ctime to now, as a change to the inode itself does. Caller holds `lock`.
  public func touchChanged(_ now: Timestamp = .now) {
    ctime = now
  }
}

/// Extended attributes of one inode, like the kernel's `simple_xattrs`.
public struct Xattrs: Sendable {
  /// The attributes by name.
  public private(set) var values: [String: [UInt8]] = [:]
  /// Bytes held, names and values, for the per-inode limit (kept as it
  /// changes: summing on every set made many xattrs quadratic).
  public private(set) var totalSize = 0

  /// No attributes.
  public init() {}

  /// The value of an attribute; setting nil removes it.
  public subscript(name: String) -> [UInt8]? {
    get { values[name] }
    set {
      if let old = values[name] { totalSize -= name.utf8.count + old.count }
      if let newValue { totalSize += name.utf8.count + newValue.count }
      values[name] = newValue
    }
  }
}
