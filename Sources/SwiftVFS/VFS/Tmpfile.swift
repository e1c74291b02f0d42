// open(O_TMPFILE): an unnamed regular file, like vfs_tmpfile() in fs/namei.c.
//
// Invariant: the inode is born with nlink 0 and no dentry; it lives by the
// lookup the entry reply gives the kernel and by its open File. Without
// O_EXCL it is linkable (I_LINKABLE): `link` may then give it a first name,
// and clears the flag. If it is closed and forgotten without a name, the
// inode cache evicts it like any unlinked file, and its storage goes back.
//
// Locking: the file system's ->tmpfile runs under the namespace lock held
// for writing, as create does (it reserves an inode of the superblock).

extension VFS {
  /// Like vfs_tmpfile() reached from do_tmpfile(): makes an unnamed regular
  /// file in `dir` with `mode` (umask applied by the caller), opens it with
  /// `flags`, and gives the inode one lookup for the kernel. O_EXCL in
  /// `flags` makes it never linkable. `asked`: the flags the caller gave, if
  /// the bridge rewrote them (see `open`).
  ///
  /// Errors as the kernel's: ENOTDIR for a non-directory, EINVAL without
  /// write access (build_open_flags()), EROFS, ENOENT in a removed
  /// directory, EOPNOTSUPP if the file system has no ->tmpfile.
  public func tmpfile(
    _ dir: Inode, mode: UInt32, flags: Int32, cred: Cred, asked: Int32? = nil
  ) throws(Errno) -> (Inode, UInt64, File) {
    guard dir.isDirectory else { throw .ENOTDIR }
    guard flags & OpenFlags.accessMode != 0 else { throw .EINVAL }  // O_TMPFILE needs write
    guard !dir.sb.readOnly else { throw .EROFS }
    let inode = try dir.sb.namespaceLock.withWriteLock { () throws(Errno) -> Inode in
      try checkAlive(dir)
      try checkMayCreate(in: dir)
      let (mode, acls) = PosixAcl.create(
        in: dir, mode: FileType.regular.rawValue | mode & 0o7777, cred: cred)
      let inode = try dir.ops.tmpfile(dir, mode: mode, cred: cred)
      acls.install(on: inode)
      return inode
    }
    inode.lock.withLock { inode.linkable = flags & OpenFlags.exclusive == 0 }
    icache.hold(inode)
    // The file is new and empty: O_CREAT, O_EXCL and O_TRUNC mean nothing more,
    // and O_DIRECTORY (part of O_TMPFILE) named the directory, not the file.
    let notForOpen =
      OpenFlags.tmpfile | OpenFlags.create | OpenFlags.exclusive | OpenFlags.truncate
    do throws(Errno) {
      let (fh, file) = try open(
        inode, flags: flags & ~notForOpen, cred: cred, asked: asked.map { $0 & ~notForOpen })
      return (inode, fh, file)
    } catch {
      forget(inode.ino, count: 1)  // nlink 0 and no holder: evicted now
      throw error
    }
  }
}
