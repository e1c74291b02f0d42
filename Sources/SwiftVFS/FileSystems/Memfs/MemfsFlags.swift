import SwiftVFSCore

/// chattr flags and whiteouts on memfs, as tmpfs has them (mm/shmem.c).
enum MemfsFlags {
  /// SHMEM_FL_USER_MODIFIABLE: tmpfs keeps i, a, d and A (casefold needs an
  /// encoding memfs does not have); any other flag is EOPNOTSUPP.
  static let modifiable: InodeFlags = [.immutable, .appendOnly, .noDump, .noAtime]
  /// SHMEM_FL_INHERITED: what a new inode takes from its directory.
  static let inherited: InodeFlags = [.noDump, .noAtime]

  /// Like shmem_fileattr_get().
  static func get(_ inode: Inode) -> InodeFlags {
    inode.lock.withLock { inode.attributeFlags }
  }

  /// Like shmem_fileattr_set(): the modifiable flags are replaced, ctime moves.
  static func set(_ inode: Inode, _ flags: InodeFlags) throws(Errno) {
    guard flags.isSubset(of: modifiable) else { throw .EOPNOTSUPP }
    inode.lock.withLock {
      inode.attributeFlags = inode.attributeFlags.subtracting(modifiable).union(flags)
      inode.touchChanged()
    }
  }

  /// Like shmem_get_inode(): a new inode inherits d and A from its directory.
  static func inherit(_ inode: Inode, from dir: Inode) {
    let passed = dir.lock.withLock { dir.attributeFlags.intersection(inherited) }
    if !passed.isEmpty { inode.lock.withLock { inode.attributeFlags = passed } }
  }
}

extension MemfsDirectoryOperations {
  func fileattrGet(_ inode: Inode) throws(Errno) -> InodeFlags { MemfsFlags.get(inode) }
  func fileattrSet(_ inode: Inode, _ flags: InodeFlags) throws(Errno) {
    try MemfsFlags.set(inode, flags)
  }

  /// Like shmem_rename2() with RENAME_WHITEOUT: shmem_whiteout() makes a char
  /// node 0:0 (WHITEOUT_DEV, mode 0) owned by the caller, then the move is
  /// made as any other, and the whiteout takes the old name.
  func renameWhiteout(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags, cred: Cred
  ) throws(Errno) {
    // The one failure of the move itself, checked before anything changes.
    if let target, target.isDirectory, !Memfs.directory(target).isEmpty { throw .ENOTEMPTY }
    let (mode, owner) = Memfs.initOwner(
      oldDir, mode: FileType.characterDevice.rawValue, cred: cred)
    let whiteout = try Memfs.newInode(oldDir.sb, mode: mode, cred: owner, rdev: .zero)
    MemfsFlags.inherit(whiteout, from: oldDir)
    do throws(Errno) {
      try rename(
        oldDir, oldName, inode, newDir, newName, target, flags: flags.subtracting(.whiteout))
    } catch {
      oldDir.sb.removeLiveInode(whiteout)  // never linked: given back at once
      oldDir.sb.releaseInode()
      throw error
    }
    Memfs.directory(oldDir).insert(oldName, whiteout)
    oldDir.lock.withLock { oldDir.size += Memfs.direntSize }
  }
}

extension MemfsFileOperations {
  func fileattrGet(_ inode: Inode) throws(Errno) -> InodeFlags { MemfsFlags.get(inode) }
  func fileattrSet(_ inode: Inode, _ flags: InodeFlags) throws(Errno) {
    try MemfsFlags.set(inode, flags)
  }
}
