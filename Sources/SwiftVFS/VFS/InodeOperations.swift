/// The inode operations table, like `struct inode_operations`: what a file
/// system does with names in a directory and with an inode's attributes.
///
/// The VFS has already done the generic checks the kernel's namei.c does
/// (names valid, target exists or not, file types match, mount points busy,
/// same superblock); an implementation does the storage and the checks only
/// it can make (ENOTEMPTY, ENOSPC). It runs with the superblock's namespace
/// lock held for writing (create, link, unlink, rename...) or for reading
/// (lookup), and takes inode locks itself, one at a time.
///
/// Every method has a default in the extension below that answers as the
/// kernel does when the slot is empty, so a file system implements only what
/// it has (fs.h: "absent" differs from "failed").
public protocol InodeOperations: Sendable {
  /// Linux: ->lookup. The inode `name` names in `dir`, or nil if none.
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode?
  /// Linux: ->create. A new regular file.
  func create(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode
  /// Linux: ->mkdir.
  func mkdir(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode
  /// Linux: ->mknod. Device nodes, FIFOs, sockets (and regular files).
  func mknod(_ dir: Inode, _ name: FileName, mode: UInt32, rdev: DevT, cred: Cred) throws(Errno)
    -> Inode
  /// Linux: ->symlink.
  func symlink(_ dir: Inode, _ name: FileName, target: [UInt8], cred: Cred) throws(Errno) -> Inode
  /// Linux: ->tmpfile. A new regular file with no name in `dir` and no
  /// link (nlink 0), for open(O_TMPFILE); the VFS opens it and may link it later.
  func tmpfile(_ dir: Inode, mode: UInt32, cred: Cred) throws(Errno) -> Inode
  /// Linux: ->link. A new name for `inode` in `dir`.
  func link(_ inode: Inode, _ dir: Inode, _ name: FileName) throws(Errno)
  /// Linux: ->unlink. Removes the name of a non-directory `victim`.
  func unlink(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno)
  /// Linux: ->rmdir. Removes an empty directory `victim`.
  func rmdir(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno)
  /// Linux: ->rename, with RENAME_NOREPLACE / RENAME_EXCHANGE already checked
  /// by the VFS. `target` is what `newName` named before, if anything.
  func rename(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags
  ) throws(Errno)
  /// Linux: ->get_link / readlink.
  func readlink(_ inode: Inode) throws(Errno) -> [UInt8]
  /// Linux: ->getattr.
  func getattr(_ inode: Inode) throws(Errno) -> Stat
  /// Linux: ->setattr.
  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno)

  /// Extended attributes (the kernel's xattr handlers). Names arrive whole,
  /// with their namespace prefix.
  func getxattr(_ inode: Inode, _ name: String) throws(Errno) -> [UInt8]
  /// Linux: the xattr handler's ->set. Sets `name` to `value`; `flags` as setxattr(2).
  func setxattr(_ inode: Inode, _ name: String, _ value: [UInt8], flags: XattrFlags) throws(Errno)
  /// Linux: ->listxattr. The names held.
  func listxattr(_ inode: Inode) throws(Errno) -> [String]
  /// Linux: the xattr handler's ->set with no value. Removes `name` (ENODATA if absent).
  func removexattr(_ inode: Inode, _ name: String) throws(Errno)

  /// Linux: ->fileattr_get. The chattr flags (FS_IOC_GETFLAGS).
  func fileattrGet(_ inode: Inode) throws(Errno) -> InodeFlags
  /// Linux: ->fileattr_set. The VFS has checked owner and privilege; the
  /// file system refuses flags it does not keep (EOPNOTSUPP).
  func fileattrSet(_ inode: Inode, _ flags: InodeFlags) throws(Errno)
  /// Linux: ->rename with RENAME_WHITEOUT (overlayfs): like `rename`, and
  /// `oldName` then names a new whiteout, a char node 0:0 owned by `cred`.
  func renameWhiteout(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags, cred: Cred
  ) throws(Errno)
  /// Whether these are `AsyncInodeOperations`, whose requests the bridge
  /// serves in a Task. Set by the protocol extensions: do not implement.
  var isAsyncInodeOperations: Bool { get }
}

/// setxattr(2) flags.
public struct XattrFlags: OptionSet, Sendable {
  /// The XATTR_* bits.
  public let rawValue: Int32
  /// Flags from XATTR_* bits.
  public init(rawValue: Int32) { self.rawValue = rawValue }
  /// Fail with EEXIST if the attribute exists (XATTR_CREATE).
  public static let create = XattrFlags(rawValue: 1)  // XATTR_CREATE
  /// Fail with ENODATA if the attribute does not exist (XATTR_REPLACE).
  public static let replace = XattrFlags(rawValue: 2)  // XATTR_REPLACE
}

extension InodeOperations {
  /// An inode without ->lookup is not a directory (path walk gives ENOTDIR).
  public func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? { throw .ENOTDIR }
  /// vfs_create: no ->create is EACCES.
  public func create(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno)
    -> Inode
  { throw .EACCES }
  /// vfs_mkdir, vfs_mknod, vfs_symlink, vfs_link, vfs_unlink, vfs_rmdir and
  /// vfs_rename answer EPERM when the slot is empty.
  public func mkdir(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno)
    -> Inode
  { throw .EPERM }
  public func mknod(_ dir: Inode, _ name: FileName, mode: UInt32, rdev: DevT, cred: Cred)
    throws(Errno) -> Inode
  { throw .EPERM }
  public func symlink(_ dir: Inode, _ name: FileName, target: [UInt8], cred: Cred) throws(Errno)
    -> Inode
  { throw .EPERM }
  public func link(_ inode: Inode, _ dir: Inode, _ name: FileName) throws(Errno) { throw .EPERM }
  /// vfs_tmpfile(): no ->tmpfile is EOPNOTSUPP.
  public func tmpfile(_ dir: Inode, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    throw .EOPNOTSUPP
  }
  public func unlink(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    throw .EPERM
  }
  public func rmdir(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    throw .EPERM
  }
  public func rename(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags
  ) throws(Errno) { throw .EPERM }
  /// readlink(2) on a non-symlink is EINVAL.
  public func readlink(_ inode: Inode) throws(Errno) -> [UInt8] { throw .EINVAL }
  public func getattr(_ inode: Inode) throws(Errno) -> Stat { Simple.getattr(inode) }
  /// No ->setattr: `Simple.setattr`, as notify_change() falls back to
  /// simple_setattr(): chmod, chown and touch change the inode in memory (a
  /// size change is EPERM). For a tree that must not change, declare the
  /// file system read-only (`FileSystemType.readOnly`): every change is then
  /// EROFS, as on a kernel file system mounted `ro`.
  public func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    try Simple.setattr(inode, attr)
  }
  /// No xattr handler: EOPNOTSUPP, as for a file system without xattrs.
  public func getxattr(_ inode: Inode, _ name: String) throws(Errno) -> [UInt8] {
    throw .EOPNOTSUPP
  }
  /// No xattr handler: EOPNOTSUPP.
  public func setxattr(_ inode: Inode, _ name: String, _ value: [UInt8], flags: XattrFlags)
    throws(Errno)
  { throw .EOPNOTSUPP }
  /// No xattr handler: no names.
  public func listxattr(_ inode: Inode) throws(Errno) -> [String] { [] }
  /// No xattr handler: EOPNOTSUPP.
  public func removexattr(_ inode: Inode, _ name: String) throws(Errno) { throw .EOPNOTSUPP }
  /// No ->fileattr_get/set: the ioctl is ENOTTY (ENOIOCTLCMD).
  public func fileattrGet(_ inode: Inode) throws(Errno) -> InodeFlags { throw .ENOTTY }
  public func fileattrSet(_ inode: Inode, _ flags: InodeFlags) throws(Errno) { throw .ENOTTY }
  /// A file system that makes no whiteouts refuses the flag (EINVAL).
  public func renameWhiteout(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags, cred: Cred
  ) throws(Errno) { throw .EINVAL }
  public var isAsyncInodeOperations: Bool { false }
}
