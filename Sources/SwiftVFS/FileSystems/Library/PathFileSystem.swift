import SwiftVFSCore

/// A file system for people who think in paths, like libfuse's high-level
/// API (`struct fuse_operations`): each operation gets the absolute path of
/// what it acts on ("/", "/a/b"), and the adapter (`PathFileSystemType`)
/// does the inode side: numbers, lookups, the dcache, ".", "..", readdir
/// cookies, and the paths of everything below a renamed directory.
///
/// Only `getattr` must be implemented. Every other operation has a default
/// that answers as the kernel does for a file system without it: reading
/// and writing EINVAL, listing ENOTDIR, create EACCES, mkdir, unlink, rmdir,
/// rename, symlink EPERM, readlink EINVAL, chmod, chown and truncate EPERM;
/// `open`, `release`, `fsync` and `utimens` succeed doing nothing.
///
/// Operations run on the thread that serves the request, several at a time:
/// the implementation is Sendable and does its own locking. A path given is
/// valid (no empty, ".", ".." or over-long components); names a listing
/// returns are checked, and a bad one is left out.
public protocol PathFileSystem: Sendable {
  /// Linux: ->getattr (fuse_operations.getattr). The attributes at `path`;
  /// ENOENT if nothing is there.
  func getattr(_ path: String) throws(Errno) -> PathAttributes
  /// fuse_operations.readdir. The entries of the directory at `path`,
  /// without "." and "..".
  func readdir(_ path: String) throws(Errno) -> [PathDirectoryEntry]
  /// fuse_operations.open: may refuse an open (EACCES...). Called for files.
  func open(_ path: String, flags: Int32) throws(Errno)
  /// fuse_operations.release: the last close of an open.
  func release(_ path: String)
  /// fuse_operations.read: bytes from `offset` into `buffer`; 0 at the end.
  func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  /// fuse_operations.write: bytes written at `offset` (the end of the file
  /// for an O_APPEND open).
  func write(_ path: String, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  /// fuse_operations.fsync.
  func fsync(_ path: String) throws(Errno)
  /// fuse_operations.create: a new empty regular file (`mode` holds the
  /// permission bits, the umask applied).
  func create(_ path: String, mode: UInt32, cred: Cred) throws(Errno)
  /// fuse_operations.mkdir.
  func mkdir(_ path: String, mode: UInt32, cred: Cred) throws(Errno)
  /// fuse_operations.unlink: removes a non-directory.
  func unlink(_ path: String) throws(Errno)
  /// fuse_operations.rmdir: removes an empty directory (ENOTEMPTY otherwise).
  func rmdir(_ path: String) throws(Errno)
  /// fuse_operations.rename: `from` now appears at `to`, replacing what was
  /// there (checked by the VFS: types match, an empty directory). With
  /// `.exchange`, the two swap; `.noReplace` is checked before.
  func rename(_ from: String, _ to: String, flags: RenameFlags) throws(Errno)
  /// fuse_operations.symlink: a symlink at `path` to `target`.
  func symlink(_ path: String, target: String, cred: Cred) throws(Errno)
  /// fuse_operations.readlink.
  func readlink(_ path: String) throws(Errno) -> String
  /// fuse_operations.truncate.
  func truncate(_ path: String, size: Int64) throws(Errno)
  /// fuse_operations.chmod: `mode` holds the permission bits.
  func chmod(_ path: String, mode: UInt32) throws(Errno)
  /// fuse_operations.chown: nil leaves that id as it is.
  func chown(_ path: String, uid: UInt32?, gid: UInt32?) throws(Errno)
  /// fuse_operations.utimens: nil leaves that time as it is.
  func utimens(_ path: String, atime: SetAttr.TimeChange?, mtime: SetAttr.TimeChange?)
    throws(Errno)
}

extension PathFileSystem {
  /// No listing: not a directory (iterate_dir without ->iterate_shared).
  public func readdir(_ path: String) throws(Errno) -> [PathDirectoryEntry] { throw .ENOTDIR }
  /// Every open succeeds.
  public func open(_ path: String, flags: Int32) throws(Errno) {}
  /// Nothing to do.
  public func release(_ path: String) {}
  /// No ->read: EINVAL, as vfs_read answers.
  public func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { throw .EINVAL }
  /// No ->write: EINVAL, as vfs_write answers.
  public func write(_ path: String, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { throw .EINVAL }
  /// Nothing to write back.
  public func fsync(_ path: String) throws(Errno) {}
  /// No ->create: EACCES, as vfs_create answers.
  public func create(_ path: String, mode: UInt32, cred: Cred) throws(Errno) { throw .EACCES }
  /// EPERM, as vfs_mkdir answers.
  public func mkdir(_ path: String, mode: UInt32, cred: Cred) throws(Errno) { throw .EPERM }
  /// EPERM, as vfs_unlink answers.
  public func unlink(_ path: String) throws(Errno) { throw .EPERM }
  /// EPERM, as vfs_rmdir answers.
  public func rmdir(_ path: String) throws(Errno) { throw .EPERM }
  /// EPERM, as vfs_rename answers.
  public func rename(_ from: String, _ to: String, flags: RenameFlags) throws(Errno) {
    throw .EPERM
  }
  /// EPERM, as vfs_symlink answers.
  public func symlink(_ path: String, target: String, cred: Cred) throws(Errno) { throw .EPERM }
  /// readlink(2) of a non-symlink: EINVAL.
  public func readlink(_ path: String) throws(Errno) -> String { throw .EINVAL }
  /// EPERM: the size is fixed (as proc_setattr() answers for attributes).
  public func truncate(_ path: String, size: Int64) throws(Errno) { throw .EPERM }
  /// EPERM: the mode is fixed.
  public func chmod(_ path: String, mode: UInt32) throws(Errno) { throw .EPERM }
  /// EPERM: the owner is fixed.
  public func chown(_ path: String, uid: UInt32?, gid: UInt32?) throws(Errno) { throw .EPERM }
  /// Times are taken and ignored (as proc files take them), so `touch` works.
  public func utimens(_ path: String, atime: SetAttr.TimeChange?, mtime: SetAttr.TimeChange?)
    throws(Errno)
  {}
}

/// What `PathFileSystem.getattr` reports. Fields left nil keep the inode's
/// own value (its owner is the mounter, its times those of its first lookup).
public struct PathAttributes: Sendable, Equatable {
  /// The file type (fixed for a path's inode: a new type is a new inode).
  public var type: FileType
  /// The permission bits (and setuid, setgid, sticky).
  public var permissions: UInt32
  /// The size in bytes (st_blocks follows it).
  public var size: Int64
  /// The link count; nil is 1 for a file and 2 for a directory. Report
  /// 2 + subdirectories for a directory, as kernel file systems do (`find`
  /// and the checker rely on it).
  public var nlink: UInt32?
  /// The owner; nil: the mounter.
  public var uid: UInt32?
  /// The group; nil: the mounter's.
  public var gid: UInt32?
  /// The device number of a device node (.zero for others).
  public var rdev: DevT
  /// Last access; nil: the inode's own.
  public var atime: Timestamp?
  /// Last change of content; nil: the inode's own.
  public var mtime: Timestamp?
  /// Last change of attributes; nil: the inode's own.
  public var ctime: Timestamp?

  /// Attributes of a `type` with mode `permissions`; the rest as given.
  public init(
    type: FileType, permissions: UInt32, size: Int64 = 0, nlink: UInt32? = nil,
    uid: UInt32? = nil, gid: UInt32? = nil, rdev: DevT = .zero, atime: Timestamp? = nil,
    mtime: Timestamp? = nil, ctime: Timestamp? = nil
  ) {
    self.type = type
    self.permissions = permissions
    self.size = size
    self.nlink = nlink
    self.uid = uid
    self.gid = gid
    self.rdev = rdev
    self.atime = atime
    self.mtime = mtime
    self.ctime = ctime
  }

  /// A directory with mode `permissions` (0755 unless told).
  public static func directory(_ permissions: UInt32 = 0o755) -> PathAttributes {
    PathAttributes(type: .directory, permissions: permissions)
  }

  /// A regular file of `size` bytes with mode `permissions` (0644 unless told).
  public static func file(size: Int64, _ permissions: UInt32 = 0o644) -> PathAttributes {
    PathAttributes(type: .regular, permissions: permissions, size: size)
  }
}

/// One entry `PathFileSystem.readdir` returns.
public struct PathDirectoryEntry: Sendable, Equatable {
  /// The name: one component, not "." or ".." (those are added for you).
  public var name: String
  /// Its file type, as readdir's d_type shows it.
  public var type: FileType

  /// An entry `name` of type `type`.
  public init(_ name: String, type: FileType) {
    self.name = name
    self.type = type
  }
}
