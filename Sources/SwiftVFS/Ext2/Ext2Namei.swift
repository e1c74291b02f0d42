// The inode operations, like fs/ext2/namei.c (ext2_create, ext2_mkdir,
// ext2_mknod, ext2_symlink, ext2_link, ext2_unlink, ext2_rmdir,
// ext2_rename), ext2_setattr() and the lookups and attribute reads of the
// read-only step. The VFS holds the namespace lock for every change here,
// and has checked permissions, names and types before calling.

import SwiftVFSBlock
import SwiftVFSCore

/// The inode operations (ext2_dir_inode_operations, ext2_file_inode_operations,
/// ext2_symlink_inode_operations, ext2_special_inode_operations in one).
struct Ext2InodeOperations: InodeOperations {
  /// EXT2_FL_USER_VISIBLE: the i_flags bits lsattr shows.
  static let userVisibleFlags: UInt32 = 0x0004_BFFF
  /// EXT2_FL_INHERITED: the flags a new inode takes from its directory.
  static let inheritedFlags: UInt32 = 0x0001_C6CF

  /// ext2_mask_flags(): what of the inherited flags a new inode of `mode`
  /// keeps (no DIRSYNC or TOPDIR but on directories; only NODUMP and
  /// NOATIME on what is neither a directory nor a regular file).
  static func maskFlags(_ mode: UInt32, _ flags: UInt32) -> UInt32 {
    switch FileType(mode: mode) {
    case .directory: flags
    case .regular: flags & ~UInt32(0x0001_0000 | 0x0002_0000)
    default: flags & UInt32(0x40 | 0x80)
    }
  }
  /// EXT2_FL_USER_MODIFIABLE: the i_flags bits chattr may change.
  static let userModifiableFlags: UInt32 = 0x0003_80FF
  /// EXT2_LINK_MAX: the most links an inode may have.
  static let linkMax: UInt32 = 32000
  let info: Ext2FileSystemInfo

  /// Like ext2_lookup(): the entry's inode; an entry naming a deleted inode
  /// is EIO ("deleted inode referenced"), as the kernel answers.
  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    let core = try info.core(of: dir)
    guard let ino = try info.findEntry(core.snapshot, name.bytes, core: core) else { return nil }
    do {
      return try info.iget(ino)
    } catch  where error == ESTALE_ {
      throw .EIO
    }
  }

  /// A symlink's target (ext2_get_link / page_get_link).
  func readlink(_ inode: Inode) throws(Errno) -> [UInt8] {
    guard inode.type == .symlink else { throw .EINVAL }
    return try info.symlinkTarget(try info.diskInode(of: inode))
  }

  /// Like ext2_getattr(): the inode's fields, with the disk's inode number
  /// as st_ino (what the kernel shows), after writing ACLs the VFS changed.
  /// 128-byte inodes keep whole seconds,
  /// so their times are shown truncated (timestamp_truncate() with an
  /// s_time_gran of one second), as they will read after a remount.
  func getattr(_ inode: Inode) throws(Errno) -> Stat {
    // The VFS sets ACLs in the Inode without calling ext2 (PosixAcl.set);
    // the kernel's ext2_set_acl() writes them at once, i_blocks included.
    // getattr follows every setxattr and chmod, so they reach the disk here.
    if info.posixAcl, !info.readOnly, let core = try? info.core(of: inode) {
      try? info.syncAcls(inode, core)
    }
    var st = Simple.getattr(inode)
    if let ino = info.diskNumber(of: inode) { st.ino = UInt64(ino) }
    if info.superBlock.inodeSize <= Ext2SuperBlock.goodOldInodeSize {
      st.atime = Timestamp(sec: st.atime.sec)
      st.mtime = Timestamp(sec: st.mtime.sec)
      st.ctime = Timestamp(sec: st.ctime.sec)
    }
    return st
  }

  // MARK: - New inodes

  /// Like ext2_new_inode(): a free number near `dir`, a zeroed disk inode
  /// with the owner of inode_init_owner() (a setgid directory gives its
  /// group, and its setgid bit to subdirectories), the inherited flags, a
  /// new i_generation, times now; and its VFS inode.
  func newInode(_ dir: Inode, mode: UInt32, cred: Cred, setup: (inout Ext2Inode) -> Void)
    throws(Errno) -> (Inode, Ext2InodeCore)
  {
    let isDirectory = FileType(mode: mode) == .directory
    let parent = try info.core(of: dir)
    var mode = mode
    var gid = cred.gid
    dir.lock.withLock {
      if dir.mode & ModeBits.setgid != 0 {
        gid = dir.gid
        if isDirectory { mode |= ModeBits.setgid }
      }
    }
    let ino = try info.newInodeNumber(parentIno: parent.ino, isDirectory: isDirectory)
    let inodeSize = info.superBlock.inodeSize
    var raw = [UInt8](repeating: 0, count: inodeSize)
    if inodeSize > Ext2SuperBlock.goodOldInodeSize {
      Ext2Bytes.put16(&raw, 128, 32)  // i_extra_isize: the large inode's fields through crtime
    }
    var disk: Ext2Inode
    do {
      disk = try Ext2Inode(parsing: raw, inodeSize: inodeSize)
    } catch {
      info.freeInodeNumber(ino, isDirectory: isDirectory)
      throw error
    }
    let now = Timestamp.now
    disk.mode = UInt16(truncatingIfNeeded: mode)
    disk.uid = cred.uid
    disk.gid = gid
    disk.atime = now
    disk.mtime = now
    disk.ctime = now
    if inodeSize > Ext2SuperBlock.goodOldInodeSize { disk.crtime = now }
    disk.linksCount = 1
    disk.flags = Ext2InodeOperations.maskFlags(
      mode, parent.snapshot.flags & Ext2InodeOperations.inheritedFlags)
    disk.generation = info.newGeneration()
    setup(&disk)
    disk.encode(into: &raw)
    let core = Ext2InodeCore(ino: ino, disk: disk, raw: raw)
    // Not written to the inode table yet: every caller writes the inode
    // (write_inode()) once it is complete, or frees it on failure.
    do {
      let inode = try info.instantiate(core)
      return (inode, core)
    } catch {
      info.freeInodeNumber(ino, isDirectory: isDirectory)
      throw error
    }
  }

  /// Frees an inode that never got a name (the error path of ext2_create()).
  private func discard(_ inode: Inode) {
    inode.lock.withLock { inode.nlink = 0 }
    try? info.deleteInode(inode)
  }

  /// Like ext2_add_nondir(): the name, or the inode back on failure.
  private func addNonDirectory(_ dir: Inode, _ name: FileName, _ inode: Inode, _ ino: UInt32)
    throws(Errno) -> Inode
  {
    do {
      try info.addLink(dir, name.bytes, ino: ino, type: inode.type)
    } catch {
      discard(inode)
      throw error
    }
    try info.writeInode(inode)
    info.markDirty(inode)
    return inode
  }

  /// Like ext2_create().
  func create(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    let (inode, core) = try newInode(dir, mode: mode, cred: cred) { _ in }
    return try addNonDirectory(dir, name, inode, core.ino)
  }

  /// Like ext2_tmpfile(): a regular file with no name. d_tmpfile() takes
  /// its link away, so the inode is written with i_links_count 0; a linkat()
  /// gives it a name (`link`), else it is freed at eviction like any
  /// unlinked file (a crash before that leaves it to e2fsck, as on the kernel).
  func tmpfile(_ dir: Inode, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    let (inode, _) = try newInode(dir, mode: mode, cred: cred) { $0.linksCount = 0 }
    inode.lock.withLock { inode.nlink = 0 }
    do {
      try info.writeInode(inode)
    } catch {
      discard(inode)
      throw error
    }
    info.markDirty(inode)
    return inode
  }

  /// Like ext2_mknod(): the device number in i_block as init_special_inode()
  /// and ext2_write_inode() store it: old 8:8 in i_block[0] when it fits,
  /// else the new encoding in i_block[1].
  func mknod(_ dir: Inode, _ name: FileName, mode: UInt32, rdev: DevT, cred: Cred) throws(Errno)
    -> Inode
  {
    let type = FileType(mode: mode)
    let (inode, core) = try newInode(dir, mode: mode, cred: cred) { disk in
      guard type == .characterDevice || type == .blockDevice else { return }
      let major = rdev.major
      let minor = rdev.minor
      if major < 256 && minor < 256 {
        disk.setPointer(0, major << 8 | minor)  // old_encode_dev()
      } else {
        disk.setPointer(1, (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12))  // new_encode_dev()
      }
    }
    return try addNonDirectory(dir, name, inode, core.ino)
  }

  /// Like ext2_symlink(): a target shorter than i_block's 60 bytes lives
  /// there (a fast symlink), a longer one in a block of its own.
  func symlink(_ dir: Inode, _ name: FileName, target: [UInt8], cred: Cred) throws(Errno) -> Inode {
    let blockSize = info.superBlock.blockSize
    guard target.count < blockSize else { throw .ENAMETOOLONG }
    let fast = target.count < 60
    let (inode, core) = try newInode(dir, mode: FileType.symlink.rawValue | 0o777, cred: cred) {
      disk in
      if fast { disk.setBlockBytes(target) }
      disk.size = UInt64(target.count)
    }
    inode.lock.withLock { inode.size = Int64(target.count) }
    if !fast {
      do {
        let (physical, _) = try info.getBlock(core, 0)
        let bh = try info.disk.zeroedBuffer(physical)
        try bh.replace(at: 0, with: target)
        bh.release()
        info.syncBlocks(inode, core)
      } catch {
        discard(inode)
        throw error
      }
    }
    return try addNonDirectory(dir, name, inode, core.ino)
  }

  /// Like ext2_mkdir(): the new directory's "." and "..", two links for it
  /// and one more for its parent.
  func mkdir(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    guard dir.lock.withLock({ dir.nlink }) < Ext2InodeOperations.linkMax else { throw .EMLINK }
    let parentIno = try info.core(of: dir).ino
    let (inode, core) = try newInode(
      dir, mode: FileType.directory.rawValue | mode & ModeBits.permissions, cred: cred
    ) { disk in disk.linksCount = 2 }
    inode.lock.withLock { inode.nlink = 2 }
    // inode_inc_link_count(dir) before ext2_add_link(), as ext2_mkdir()
    // orders them: the parent is written once, with its link and its times.
    dir.lock.withLock { dir.nlink += 1 }
    do {
      try info.makeEmpty(inode, core, parent: parentIno)
      try info.writeInode(inode)
      try info.addLink(dir, name.bytes, ino: core.ino, type: .directory)
    } catch {
      dir.lock.withLock { dir.nlink -= min(dir.nlink, 1) }
      discard(inode)
      throw error
    }
    info.markDirty(inode)
    return inode
  }

  /// Like ext2_link().
  func link(_ inode: Inode, _ dir: Inode, _ name: FileName) throws(Errno) {
    guard let ino = info.diskNumber(of: inode) else { throw .EIO }
    guard inode.lock.withLock({ inode.nlink }) < Ext2InodeOperations.linkMax else { throw .EMLINK }
    try info.addLink(dir, name.bytes, ino: ino, type: inode.type)
    inode.lock.withLock {
      inode.nlink += 1
      inode.ctime = .now
    }
    try info.writeInode(inode)
    info.markDirty(inode)
  }

  /// Like ext2_unlink(): the record goes; the inode loses a link (freed at
  /// eviction once nothing holds it open).
  func unlink(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    try info.deleteEntry(dir, name.bytes)
    victim.lock.withLock {
      victim.nlink -= min(victim.nlink, 1)
      victim.ctime = dir.lock.withLock { dir.ctime }
    }
    try info.writeInode(victim)
    info.markDirty(victim)
  }

  /// Like ext2_rmdir(): only an empty directory goes; it and its parent
  /// each lose a link.
  func rmdir(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    guard try info.isEmptyDirectory(try info.diskInode(of: victim)) else { throw .ENOTEMPTY }
    // The parent's link goes with the record, so that ext2_delete_entry()'s
    // write of the parent carries both (one write, not two).
    let dirLinks = dir.lock.withLock { () -> UInt32 in
      defer { dir.nlink -= min(dir.nlink, 1) }
      return dir.nlink
    }
    do {
      try info.deleteEntry(dir, name.bytes)
    } catch {
      dir.lock.withLock { dir.nlink = dirLinks }
      throw error
    }
    victim.lock.withLock {
      victim.nlink = 0
      victim.size = 0
      victim.ctime = .now
    }
    // Only marked dirty, as ext2_rmdir()'s inode_dec_link_count() leaves
    // it: the eviction that follows (ext2_evict_inode()) writes the inode
    // once, with i_dtime, and a directory still open past this point is
    // written by the next sync or freed at unmount, as any orphan.
    info.markDirty(victim)
  }

  /// Like ext2_rename(): replaces a target (an empty directory only for a
  /// directory), or exchanges two entries (RENAME_EXCHANGE); a directory
  /// that changes parent gets its ".." rewritten and the link counts of
  /// both parents follow.
  func rename(
    _ oldDir: Inode, _ oldName: FileName, _ source: Inode, _ newDir: Inode, _ newName: FileName,
    _ target: Inode?, flags: RenameFlags
  ) throws(Errno) {
    guard let sourceIno = info.diskNumber(of: source), let oldDirIno = info.diskNumber(of: oldDir),
      let newDirIno = info.diskNumber(of: newDir)
    else { throw .EIO }
    let now = Timestamp.now
    if flags.contains(.exchange), let target {
      guard let targetIno = info.diskNumber(of: target) else { throw .EIO }
      try info.setLink(oldDir, oldName.bytes, ino: targetIno, type: target.type)
      try info.setLink(newDir, newName.bytes, ino: sourceIno, type: source.type)
      if oldDir !== newDir {
        if source.isDirectory { try setDotDot(source, to: newDirIno) }
        if target.isDirectory { try setDotDot(target, to: oldDirIno) }
        if source.isDirectory != target.isDirectory {
          let (gains, loses) = source.isDirectory ? (newDir, oldDir) : (oldDir, newDir)
          gains.lock.withLock { gains.nlink += 1 }
          loses.lock.withLock { loses.nlink -= min(loses.nlink, 1) }
        }
      }
      for inode in [source, target, oldDir, newDir] {
        inode.lock.withLock { inode.ctime = now }
        try info.writeInode(inode)
        info.markDirty(inode)
      }
      return
    }
    if source.isDirectory, oldDir !== newDir, target == nil,
      newDir.lock.withLock({ newDir.nlink }) >= Ext2InodeOperations.linkMax
    {
      throw .EMLINK
    }
    if let target {
      if target.isDirectory {
        guard try info.isEmptyDirectory(try info.diskInode(of: target)) else { throw .ENOTEMPTY }
      }
      try info.setLink(newDir, newName.bytes, ino: sourceIno, type: source.type)
      target.lock.withLock {
        target.nlink = target.isDirectory ? 0 : target.nlink - min(target.nlink, 1)
        target.ctime = now
      }
      if target.isDirectory { newDir.lock.withLock { newDir.nlink -= min(newDir.nlink, 1) } }
      try info.writeInode(target)
      info.markDirty(target)
    } else {
      try info.addLink(newDir, newName.bytes, ino: sourceIno, type: source.type)
    }
    try info.deleteEntry(oldDir, oldName.bytes)
    if source.isDirectory, oldDir !== newDir {
      try setDotDot(source, to: newDirIno)
      oldDir.lock.withLock { oldDir.nlink -= min(oldDir.nlink, 1) }
      if target == nil { newDir.lock.withLock { newDir.nlink += 1 } }
    }
    source.lock.withLock { source.ctime = now }
    for inode in [source, oldDir, newDir] {
      try info.writeInode(inode)
      info.markDirty(inode)
    }
  }

  /// The ".." record of directory `dir` names `parent` (ext2_set_link() on
  /// ext2_dotdot()).
  private func setDotDot(_ dir: Inode, to parent: UInt32) throws(Errno) {
    try info.setLink(dir, [0x2E, 0x2E], ino: parent, type: .directory, touch: false)
  }

  // MARK: - Attributes

  /// Like ext2_setattr(): a size change truncates or extends (ext2_setsize()),
  /// the rest is setattr_copy(); the inode is written.
  /// timestamp_truncate() with the superblock's s_time_min and s_time_max: a
  /// time the inode cannot store is clamped, its nanoseconds dropped. 256-byte
  /// inodes add two epoch bits to 32-bit seconds (up to 2446, the ext4
  /// driver's EXT4_EXTRA_TIMESTAMP_MAX); 128-byte ones keep an s32.
  func timestampTruncate(_ t: Timestamp) -> Timestamp {
    let min = Int64(Int32.min)
    let max =
      info.superBlock.inodeSize > Ext2SuperBlock.goodOldInodeSize
      ? (Int64(1) << 34) - 1 + Int64(Int32.min) : Int64(Int32.max)
    if t.sec < min { return Timestamp(sec: min) }
    if t.sec > max { return Timestamp(sec: max) }
    return t
  }

  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    if let size = attr.size {
      guard inode.type == .regular else { throw .EINVAL }
      try info.setSize(inode, size)
    }
    var rest = attr
    rest.size = nil
    if case .to(let t) = rest.atime { rest.atime = .to(timestampTruncate(t)) }
    if case .to(let t) = rest.mtime { rest.mtime = .to(timestampTruncate(t)) }
    if !rest.isEmpty || attr.size != nil {
      inode.lock.withLock { Simple.applyLocked(inode, rest) }
    }
    try info.writeInode(inode)
    info.markDirty(inode)
  }

  /// Like ext2_xattr_get(): the value of `name` (ENODATA if absent). ACLs
  /// are the VFS's (from `Inode.acl`), never asked here.
  func getxattr(_ inode: Inode, _ name: String) throws(Errno) -> [UInt8] {
    guard !name.isEmpty, name.utf8.count <= 255 else { throw .ERANGE }
    guard ["user.", "trusted.", "security."].contains(where: { name.hasPrefix($0) }) else {
      throw .EOPNOTSUPP
    }
    let attributes = try info.readXattrs(try info.diskInode(of: inode))
    guard let found = attributes.first(where: { $0.name == name }) else { throw .ENODATA }
    return found.value
  }

  /// Like ext2_listxattr(): the names held, ACLs left to the VFS.
  func listxattr(_ inode: Inode) throws(Errno) -> [String] {
    try info.readXattrs(try info.diskInode(of: inode))
      .filter {
        $0.index != Ext2Xattr.aclAccessIndex && $0.index != Ext2Xattr.aclDefaultIndex
          && !$0.name.isEmpty
      }
      .map(\.name)
  }

  /// Like ext2_xattr_set() through the user, trusted and security handlers.
  func setxattr(_ inode: Inode, _ name: String, _ value: [UInt8], flags: XattrFlags) throws(Errno) {
    let (index, suffix) = try Ext2Xattr.split(name)
    guard index != Ext2Xattr.aclAccessIndex, index != Ext2Xattr.aclDefaultIndex else {
      throw .EOPNOTSUPP  // ACLs are the VFS's
    }
    // ext2_xattr_set(): a value longer than a block is ERANGE.
    guard value.count <= info.superBlock.blockSize else { throw .ERANGE }
    try info.setXattr(inode, index: index, suffix: suffix, value: value, flags: flags)
  }

  /// Like ext2_xattr_set() with no value.
  func removexattr(_ inode: Inode, _ name: String) throws(Errno) {
    let (index, suffix) = try Ext2Xattr.split(name)
    try info.setXattr(inode, index: index, suffix: suffix, value: nil, flags: [])
  }

  /// Like ext2_fileattr_set(): the user-modifiable bits of i_flags
  /// (EXT2_FL_USER_MODIFIABLE) from `flags`, the others kept; ctime moves.
  func fileattrSet(_ inode: Inode, _ flags: InodeFlags) throws(Errno) {
    let core = try info.core(of: inode)
    let modifiable = Ext2InodeOperations.userModifiableFlags
    let visible = core.lock.withLock { () -> UInt32 in
      core.disk.flags = core.disk.flags & ~modifiable | flags.rawValue & modifiable
      return core.disk.flags & Ext2InodeOperations.userVisibleFlags
    }
    inode.lock.withLock {
      inode.attributeFlags = InodeFlags(rawValue: visible)
      inode.ctime = .now
    }
    try info.writeInode(inode)
    info.markDirty(inode)
  }

  /// Like ext2_fileattr_get(): i_flags & EXT2_FL_USER_VISIBLE.
  func fileattrGet(_ inode: Inode) throws(Errno) -> InodeFlags {
    inode.lock.withLock { inode.attributeFlags }
  }
}
