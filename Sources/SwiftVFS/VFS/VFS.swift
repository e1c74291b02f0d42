/// The virtual file system: one tree of superblocks, the caches above them,
/// and the entry points the FUSE bridge calls, one per request kind.
///
/// Like the kernel's namei.c / open.c / read_write.c, this layer does the
/// checks every file system shares (names, types, mount points, superblock
/// boundaries, read-only mounts) and keeps the dcache and inode cache right;
/// the file systems below do the storage.
///
/// Reference counts: every call that hands an inode to the kernel as an entry
/// (lookup, create, mkdir, mknod, symlink, link) adds one lookup to it;
/// `forget` takes them away. `open` and `release` count open files.
///
/// Lock order: superblock namespace lock, then the inode cache's lock, then
/// one inode lock at a time; the dcache's and file table's locks are innermost.
public final class VFS: @unchecked Sendable {
  /// The registered file system types (register_filesystem).
  public let filesystems = FileSystemRegistry()
  /// The char device registry (cdev_map and chrdevs).
  public let chrdevs = ChrdevRegistry()
  /// The dentry cache.
  public let dcache: Dcache
  /// The inode cache: every live inode by number.
  public let icache = InodeCache()
  let files = FileTable()
  let inodeNumbers = InodeNumbers()
  /// What the FUSE bridge served, per opcode (/proc/vfs/requests and trace).
  public let requests = RequestStats()
  /// Who is told when a char node's view changes (the FUSE bridge).
  public let deviceNodeViews = DeviceNodeViews()
  /// Texts other layers add to /proc files (proc_create_single() outside fs/proc).
  public let procSections = ProcSections()
  /// What `drop_caches` runs to drop clean cached data (register_shrinker()).
  public let shrinkers = Shrinkers()
  /// Where layers that cannot see devtmpfs ask for /dev nodes (device_add() → devtmpfs).
  public let deviceNodeRequests = DeviceNodeRequests()
  /// Per-VFS objects of layers outside the core (see `subsystem(_:make:)`).
  let subsystems = SubsystemTable()

  /// The superblock mounted at `/`.
  public private(set) var rootSuperBlock: SuperBlock!
  /// Mounted superblocks: the root's, then each one mounted on a directory.
  public private(set) var mounts: [Mount] = []
  private var mountedOn: [UInt64: SuperBlock] = [:]  // mount point ino -> superblock
  /// Mount points on names the directory's file system does not hold.
  let synthesizedMountPoints = SynthesizedMountPoints()
  let mountLock = Lock()
  private var nextSuperBlockID = 1

  /// One mounted superblock and where it is mounted (struct vfsmount).
  public struct Mount: Sendable {
    /// The mount point's path inside the tree ("/" for the root).
    public let path: String
    /// The mounted superblock.
    public let superBlock: SuperBlock
    /// The directory it covers (nil for the root, and for a mount point the
    /// VFS synthesized: see `synthesizeMountPoint` in `mount`).
    public let mountPoint: Inode?
  }

  /// An empty VFS: no types registered, nothing mounted.
  public init(dcacheCapacity: Int = Dcache.defaultCapacity) {
    dcache = Dcache(capacity: dcacheCapacity)
    // An inode the cache lets go takes its unused dentries with it.
    icache.onDrop = { [dcache] inodes in dcache.pruneAliases(of: inodes) }
    chrdevs.serviceChanged = { [weak self] ranges in self?.chrdevServiceChanged(ranges) }
  }

  /// The root directory of the tree (the root superblock's root).
  public var root: Inode { rootSuperBlock.root }

  /// The atime flags of the mount the whole tree is seen through (one FUSE
  /// mount): given to every superblock, those mounted later too.
  public var atimePolicy: AtimePolicy {
    get { mountLock.withLock { atimePolicy_ } }
    set {
      mountLock.withLock {
        atimePolicy_ = newValue
        for mount in mounts { mount.superBlock.atimePolicy = newValue }
      }
    }
  }
  private var atimePolicy_ = AtimePolicy.default

  // MARK: - Mounting

  /// Mounts a new superblock of the named type, at `/` first and then on
  /// existing directories of the root file system (like do_new_mount()).
  ///
  /// With `synthesizeMountPoint`, a last path component that its directory
  /// does not hold needs no mkdir: the VFS shows the mount point itself (in
  /// lookups, listings and the link count), so /dev or /proc can go over a
  /// read-only root. An existing directory of that name is covered as usual.
  @discardableResult
  public func mount(
    _ typeName: String, at path: String, options: MountOptions, cred: Cred = .root,
    createMountPoint: Bool = false, mountPointMode: UInt32 = 0o755,
    synthesizeMountPoint: Bool = false
  ) throws(Errno) -> SuperBlock {
    let sb = try attach(
      typeName, at: path, options: options, cred: cred, createMountPoint: createMountPoint,
      mountPointMode: mountPointMode, synthesizeMountPoint: synthesizeMountPoint)
    // A devtmpfs mounted now makes the nodes of devices added before it.
    deviceNodeRequests.replayAfterInstall()
    return sb
  }

  private func attach(
    _ typeName: String, at path: String, options: MountOptions, cred: Cred,
    createMountPoint: Bool, mountPointMode: UInt32, synthesizeMountPoint: Bool
  ) throws(Errno) -> SuperBlock {
    let type = try filesystems.type(named: typeName)
    let id = mountLock.withLock {
      defer { nextSuperBlockID += 1 }
      return nextSuperBlockID
    }
    let context = MountContext(
      options: options, inodeNumbers: inodeNumbers, superBlockID: id, vfs: self, cred: cred)
    if rootSuperBlock == nil {
      guard path == "/" else { throw .EINVAL }
      let sb = try type.mount(context)
      sb.atimePolicy = atimePolicy
      rootSuperBlock = sb
      icache.hold(sb.root)  // the root is pinned: FUSE never forgets it
      dcache.add(parentIno: 0, name: .rootKey, inode: sb.root, pinned: true)
      mountLock.withLock { mounts.append(Mount(path: "/", superBlock: sb, mountPoint: nil)) }
      return sb
    }
    if synthesizeMountPoint, !createMountPoint {
      if let sb = try mountSynthesized(type, context, at: path) { return sb }
    }
    let dir = try findMountPoint(path, create: createMountPoint, mode: mountPointMode, cred: cred)
    guard dir.isDirectory else { throw .ENOTDIR }
    guard !isMountPoint(dir), dir !== root else { throw .EBUSY }
    let sb = try type.mount(context)
    sb.atimePolicy = atimePolicy
    sb.root.parentDirectory = dir.parentDirectory
    icache.hold(sb.root)
    dcache.add(
      parentIno: 0, name: FileName(unchecked: Array(path.utf8)), inode: sb.root, pinned: true)
    mountLock.withLock {
      mountedOn[dir.ino] = sb
      mounts.append(Mount(path: path, superBlock: sb, mountPoint: dir))
    }
    return sb
  }

  /// Finds the directory at `path` (ENOENT if missing, as mount(2) says),
  /// or with `create` makes what is missing (like `mount --mkdir`, and as a
  /// boot image ships /dev and /proc even on a read-only root, so the root's
  /// read-only flag does not stop it).
  private func findMountPoint(_ path: String, create: Bool, mode: UInt32, cred: Cred)
    throws(Errno) -> Inode
  {
    var dir = root
    for part in path.split(separator: "/") {
      let name = try FileName(String(part))
      dir = try dir.sb.namespaceLock.withWriteLock { () throws(Errno) -> Inode in
        if let found = try resolveOptional(dir, name) { return found }
        guard create else { throw .ENOENT }
        let made = try dir.ops.mkdir(dir, name, mode: mode, cred: cred)
        made.parentDirectory = dir
        dcache.add(parentIno: dir.ino, name: name, inode: made)
        return made
      }
    }
    return dir
  }

  /// Mounts on the last component of `path` if its directory does not hold
  /// that name (nil if it does: the caller covers it as usual).
  private func mountSynthesized(_ type: FileSystemType, _ context: MountContext, at path: String)
    throws(Errno) -> SuperBlock?
  {
    var parts = try path.split(separator: "/").map { part throws(Errno) in
      try FileName(String(part))
    }
    guard let name = parts.popLast() else { throw .EBUSY }  // "/" is mounted already
    guard !name.isDotOrDotDot else { throw .EINVAL }
    let dir = try findMountPoint(
      "/" + parts.map(\.description).joined(separator: "/"), create: false, mode: 0, cred: .root)
    guard dir.isDirectory else { throw .ENOTDIR }
    return try dir.sb.namespaceLock.withWriteLock { () throws(Errno) -> SuperBlock? in
      if try resolveOptional(dir, name) != nil { return nil }
      let sb = try type.mount(context)
      sb.atimePolicy = atimePolicy
      sb.root.parentDirectory = dir
      icache.hold(sb.root)
      dcache.add(
        parentIno: 0, name: FileName(unchecked: Array(path.utf8)), inode: sb.root, pinned: true)
      mountLock.withLock {
        synthesizedMountPoints.add(in: dir, name: name, superBlock: sb)
        mounts.append(Mount(path: path, superBlock: sb, mountPoint: nil))
      }
      return sb
    }
  }

  package func isMountPoint(_ inode: Inode) -> Bool {
    mountLock.withLock { mountedOn[inode.ino] != nil }
  }

  /// Whether `inode` is the root of a mounted superblock or covered by one:
  /// such inodes cannot be removed or renamed (EBUSY), as in the kernel.
  func isBusy(_ inode: Inode) -> Bool {
    inode === inode.sb.root || isMountPoint(inode)
      || synthesizedMountPoints.holdsAny(inode)
  }

  /// Like follow_mount(): a covered directory shows the mounted root instead.
  func crossMount(_ inode: Inode) -> Inode {
    guard inode.isDirectory else { return inode }
    return mountLock.withLock { mountedOn[inode.ino]?.root } ?? inode
  }

  // MARK: - Inodes by number

  /// The inode FUSE names by `ino`: ESTALE-like ENOENT if the kernel should
  /// not hold that number.
  public func inode(_ ino: UInt64) throws(Errno) -> Inode {
    guard let inode = icache.inode(ino) else { throw .ENOENT }
    return inode
  }

  /// Adds a lookup for an inode handed to the kernel outside an entry call
  /// (readdirplus).
  public func hold(_ inode: Inode) { icache.hold(inode) }

  /// Whether the kernel holds `inode` now (a lookup it has not forgotten):
  /// it knows the node id and has its attributes, so a READDIRPLUS entry
  /// for it need not carry them again.
  public func kernelHolds(_ inode: Inode) -> Bool { icache.isHeld(inode) }

  /// Whether the kernel holds the inode numbered `ino` now, by number (for
  /// a listing of names, whose entries come without their inodes).
  public func kernelHolds(number ino: UInt64) -> Bool { icache.isHeld(number: ino) }

  /// Whether a listing of `dir` names its entries by their VFS numbers: its
  /// file system's numbers are not shifted (`SuperBlock.ownInodeNumbers`),
  /// so `kernelHolds(number:)` and `listedInode(_:in:)` may take them.
  public func listsOwnNumbers(_ dir: Inode) -> Bool {
    dir.sb.ownInodeNumbers.map { $0.offset == 0 } ?? true
  }

  /// The inode numbered `ino` that a listing of `dir` names, for READDIRPLUS:
  /// the cached one, else its superblock's live one, else the one its file
  /// system loads by number (`SuperOperations.inodeForHandle`, as ext2's
  /// listing loaded each entry's inode); nil if none. Called inside the
  /// listing, it takes no namespace lock (the listing may hold the
  /// directory's own).
  public func listedInode(_ ino: UInt64, in dir: Inode) -> Inode? {
    if let cached = icache.get(ino) { return cached }
    if let live = dir.sb.liveInode(ino) { return live }
    return (try? dir.sb.loadInode(numbered: ino)) ?? nil
  }

  /// FUSE forget: the kernel dropped `count` lookups.
  public func forget(_ ino: UInt64, count: UInt64) {
    icache.forget(ino, count: count, evict: evict)
  }

  func evict(_ inode: Inode) {
    inode.sb.removeLiveInode(inode)
    inode.sb.ops.evictInode(inode)
  }

  func evictIfUnlinked(_ inode: Inode) {
    icache.evictIfUnused(inode, evict: evict)
  }

  // MARK: - Lookup

  /// Like lookup_fast()/lookup_slow(): the dcache first, then the directory's
  /// ->lookup under the namespace lock, caching what it finds (or a negative
  /// entry). Adds a lookup to the result, for the kernel.
  public func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode {
    let inode = try resolveUnlocked(dir, name)
    icache.hold(inode)
    return inode
  }

  package func resolveUnlocked(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode {
    guard dir.isDirectory else { throw .ENOTDIR }
    if name.bytes == [0x2e] { return dir }
    if name.bytes == [0x2e, 0x2e] {
      guard let parent = dir.parentDirectory else { throw .ENOENT }
      return parent
    }
    if let mounted = synthesizedMountPoints.root(in: dir, named: name) { return mounted }
    switch dcache.lookup(parentIno: dir.ino, name: name) {
    case .positive(let inode): return crossMount(inode)
    case .negative: throw .ENOENT
    case .miss:
      return try dir.sb.namespaceLock.withReadLock { () throws(Errno) in
        try resolveMissLocked(dir, name)
      }
    }
  }

  /// The same, for callers that hold the namespace lock already.
  func resolve(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode {
    guard let inode = try resolveOptional(dir, name) else { throw .ENOENT }
    return inode
  }

  func resolveOptional(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    guard dir.isDirectory else { throw .ENOTDIR }
    if let mounted = synthesizedMountPoints.root(in: dir, named: name) { return mounted }
    switch dcache.lookup(parentIno: dir.ino, name: name) {
    case .positive(let inode): return crossMount(inode)
    case .negative: return nil
    case .miss:
      do {
        return try resolveMissLocked(dir, name)
      } catch  where error == .ENOENT {
        return nil
      }
    }
  }

  private func resolveMissLocked(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode {
    let found = try dir.ops.lookup(dir, name)
    dcache.add(parentIno: dir.ino, name: name, inode: found)
    guard let found else { throw .ENOENT }
    // Like d_splice_alias() connecting a directory's dentry: a directory a
    // disk file system made on lookup learns its parent here, so ".." and
    // file handles work. One that has a parent (memfs's) keeps it. Lookups
    // share the namespace lock, so the inode's lock orders their stores.
    if found.isDirectory, found !== found.sb.root {
      found.lock.withLock {
        if found.parentDirectory == nil { found.parentDirectory = dir }
      }
    }
    return crossMount(found)
  }

  // MARK: - Namespace changes

  /// The shared front half of create, mkdir, mknod and symlink (like
  /// filename_create()): checks, then the fs op under the namespace lock,
  /// then the dcache entry. Returns the new inode with one lookup held.
  func makeEntry(
    _ dir: Inode, _ name: FileName, _ make: (Inode) throws(Errno) -> Inode
  ) throws(Errno) -> Inode {
    guard dir.isDirectory else { throw .ENOTDIR }
    guard !name.isDotOrDotDot else { throw .EEXIST }
    guard !dir.sb.readOnly else { throw .EROFS }
    let inode = try dir.sb.namespaceLock.withWriteLock { () throws(Errno) -> Inode in
      try checkAlive(dir)
      if try resolveOptional(dir, name) != nil { throw .EEXIST }
      try checkMayCreate(in: dir)
      let inode = try make(dir)
      if inode.isDirectory { inode.parentDirectory = dir }
      dcache.add(parentIno: dir.ino, name: name, inode: inode)
      return inode
    }
    icache.hold(inode)
    return inode
  }

  /// A directory that was removed takes no new entries (ENOENT, as the
  /// kernel's IS_DEADDIR check answers).
  func checkAlive(_ dir: Inode) throws(Errno) {
    if dir.lock.withLock({ dir.nlink == 0 }) { throw .ENOENT }
  }

  /// Like vfs_mknod(): makes a node of `mode`'s type (not a directory or symlink) in `dir`.
  public func mknod(_ dir: Inode, _ name: FileName, mode: UInt32, rdev: DevT, cred: Cred)
    throws(Errno) -> Inode
  {
    guard let type = FileType(mode: mode), type != .directory, type != .symlink else {
      throw .EINVAL
    }
    return try makeEntry(dir, name) { dir throws(Errno) in
      let (mode, acls) = PosixAcl.create(in: dir, mode: mode, cred: cred)
      let inode = try dir.ops.mknod(dir, name, mode: mode, rdev: rdev, cred: cred)
      acls.install(on: inode)
      return inode
    }
  }

  /// Like vfs_mkdir(): makes directory `name` in `dir`.
  public func mkdir(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno)
    -> Inode
  {
    try makeEntry(dir, name) { dir throws(Errno) in
      let (mode, acls) = PosixAcl.create(
        in: dir, mode: FileType.directory.rawValue | mode & 0o7777, cred: cred)
      let inode = try dir.ops.mkdir(dir, name, mode: mode & 0o7777, cred: cred)
      acls.install(on: inode)
      return inode
    }
  }

  /// Like vfs_symlink(): makes `name` in `dir` point to `target` (shorter than 4096 bytes).
  public func symlink(_ dir: Inode, _ name: FileName, target: [UInt8], cred: Cred) throws(Errno)
    -> Inode
  {
    guard !target.isEmpty else { throw .ENOENT }
    guard target.count < 4096, !target.contains(0) else { throw .ENAMETOOLONG }
    return try makeEntry(dir, name) { dir throws(Errno) in
      try dir.ops.symlink(dir, name, target: target, cred: cred)
    }
  }

  /// Like vfs_link().
  public func link(_ inode: Inode, _ dir: Inode, _ name: FileName) throws(Errno) -> Inode {
    guard !inode.isDirectory else { throw .EPERM }
    guard inode.sb === dir.sb else { throw .EXDEV }
    return try makeEntry(dir, name) { dir throws(Errno) in
      // Linking an inode whose last name is gone is ENOENT, unless it is an
      // O_TMPFILE made linkable (vfs_link(): nlink 0 without I_LINKABLE).
      if inode.lock.withLock({ inode.nlink == 0 && !inode.linkable }) { throw .ENOENT }
      // A linkable one whose storage went at its last close is gone too (the
      // kernel holds the open file across linkat, so this is no race).
      if icache.isEvicted(inode) { throw .ENOENT }
      if inode.lock.withLock({ inode.nlink == UInt32.max }) { throw .EMLINK }
      try checkMayModify(inode)  // vfs_link(): not an immutable or append-only file
      try dir.ops.link(inode, dir, name)
      inode.lock.withLock { inode.linkable = false }
      return inode
    }
  }

  /// Like vfs_unlink().
  public func unlink(_ dir: Inode, _ name: FileName) throws(Errno) {
    guard dir.isDirectory else { throw .ENOTDIR }
    guard !name.isDotOrDotDot else { throw .EISDIR }
    guard !dir.sb.readOnly else { throw .EROFS }
    try dir.sb.namespaceLock.withWriteLock { () throws(Errno) in
      let victim = try resolve(dir, name)
      guard !victim.isDirectory else { throw .EISDIR }
      guard !isBusy(victim) else { throw .EBUSY }
      try checkMayDelete(victim, from: dir)
      try dir.ops.unlink(dir, name, victim)
      dcache.delete(parentIno: dir.ino, name: name)
      // Freed in the same critical section, so the checker never sees an
      // inode that is neither named nor freed.
      evictIfUnlinked(victim)
    }
  }

  /// Like vfs_rmdir().
  public func rmdir(_ dir: Inode, _ name: FileName) throws(Errno) {
    guard dir.isDirectory else { throw .ENOTDIR }
    if name.bytes == [0x2e] { throw .EINVAL }
    if name.bytes == [0x2e, 0x2e] { throw .ENOTEMPTY }
    guard !dir.sb.readOnly else { throw .EROFS }
    try dir.sb.namespaceLock.withWriteLock { () throws(Errno) in
      let victim = try resolve(dir, name)
      guard victim.isDirectory else { throw .ENOTDIR }
      guard !isBusy(victim) else { throw .EBUSY }
      try checkMayDelete(victim, from: dir)
      try dir.ops.rmdir(dir, name, victim)
      dcache.delete(parentIno: dir.ino, name: name)
      victim.parentDirectory = nil
      evictIfUnlinked(victim)
    }
  }

  /// Like vfs_rename(), with RENAME_NOREPLACE, RENAME_EXCHANGE and
  /// RENAME_WHITEOUT (for anyone since Linux 5.8, as a whiteout is a 0:0
  /// char node that mknod allows without CAP_MKNOD; `cred` owns it).
  public func rename(
    _ oldDir: Inode, _ oldName: FileName, _ newDir: Inode, _ newName: FileName,
    flags: RenameFlags = [], cred: Cred = .root
  ) throws(Errno) {
    guard flags.rawValue & ~RenameFlags([.noReplace, .exchange, .whiteout]).rawValue == 0,
      !flags.contains([.noReplace, .exchange]), !flags.contains([.whiteout, .exchange])
    else { throw .EINVAL }
    guard oldDir.isDirectory, newDir.isDirectory else { throw .ENOTDIR }
    guard !oldName.isDotOrDotDot, !newName.isDotOrDotDot else { throw .EBUSY }
    guard oldDir.sb === newDir.sb else { throw .EXDEV }
    guard !oldDir.sb.readOnly else { throw .EROFS }
    try oldDir.sb.namespaceLock.withWriteLock { () throws(Errno) in
      let source = try resolve(oldDir, oldName)
      let target = try resolveOptional(newDir, newName)
      if flags.contains(.exchange), target == nil { throw .ENOENT }
      if flags.contains(.noReplace), target != nil { throw .EEXIST }
      if source === target { return }  // the same file: POSIX says do nothing
      guard !isBusy(source), target.map({ !isBusy($0) }) ?? true else { throw .EBUSY }
      if source.isDirectory, isAncestor(source, of: newDir) { throw .EINVAL }
      // The target must not be an ancestor of the source (do_renameat2's trap).
      if let target, !flags.contains(.exchange), target.isDirectory,
        isAncestor(target, of: oldDir)
      {
        throw .ENOTEMPTY
      }
      if let target {
        if flags.contains(.exchange) {
          if target.isDirectory, isAncestor(target, of: oldDir) { throw .EINVAL }
        } else if source.isDirectory, !target.isDirectory {
          throw .ENOTDIR
        } else if !source.isDirectory, target.isDirectory {
          throw .EISDIR
        }
      }
      if newDir !== oldDir, newDir.lock.withLock({ newDir.nlink == 0 }) { throw .ENOENT }
      try checkMayDelete(source, from: oldDir)
      if let target {
        try checkMayDelete(target, from: newDir)
      } else {
        try checkMayCreate(in: newDir)
      }
      if flags.contains(.whiteout) {
        try oldDir.ops.renameWhiteout(
          oldDir, oldName, source, newDir, newName, target, flags: flags, cred: cred)
      } else {
        try oldDir.ops.rename(oldDir, oldName, source, newDir, newName, target, flags: flags)
      }
      if flags.contains(.exchange), let target {
        dcache.add(parentIno: oldDir.ino, name: oldName, inode: target)
        if target.isDirectory { target.parentDirectory = oldDir }
      } else if flags.contains(.whiteout) {
        dcache.drop(parentIno: oldDir.ino, name: oldName)  // a whiteout has it: a miss finds it
      } else {
        dcache.delete(parentIno: oldDir.ino, name: oldName)
      }
      dcache.add(parentIno: newDir.ino, name: newName, inode: source)
      if source.isDirectory { source.parentDirectory = newDir }
      if !flags.contains(.exchange), let replaced = target {
        if replaced.isDirectory { replaced.parentDirectory = nil }
        evictIfUnlinked(replaced)
      }
    }
  }

  /// Like is_subdir(): whether `dir` is `ancestor` or below it. Caller holds
  /// the namespace lock, so parents do not move meanwhile.
  func isAncestor(_ ancestor: Inode, of dir: Inode) -> Bool {
    var cur: Inode? = dir
    while let d = cur {
      if d === ancestor { return true }
      cur = d.parentDirectory
    }
    return false
  }

  // MARK: - Attributes

  /// Like vfs_getattr(): the inode's attributes.
  public func getattr(_ inode: Inode) throws(Errno) -> Stat {
    var st = try inode.ops.getattr(inode)
    if inode.isDirectory {
      // Each synthesized mount point is a subdirectory: its ".." links here.
      st.nlink += synthesizedMountPoints.count(in: inode)
    }
    return st
  }

  /// Like notify_change(): checks, then the inode's ->setattr. `throughFile`:
  /// the change comes through an open file (ftruncate, futimens).
  public func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred, throughFile: Bool = false)
    throws(Errno) -> Stat
  {
    // Nanoseconds outside 0..<1e9 are EINVAL, as utimensat(2) answers.
    for change in [attr.atime, attr.mtime] {
      if case .to(let t)? = change, !(0..<1_000_000_000).contains(t.nsec) { throw .EINVAL }
    }
    if let t = attr.ctime, !(0..<1_000_000_000).contains(t.nsec) { throw .EINVAL }
    if !attr.isEmpty {
      guard !inode.sb.readOnly else { throw .EROFS }
      try checkMaySetattr(inode, attr, throughFile: throughFile)
      if let size = attr.size {
        guard !inode.isDirectory else { throw .EISDIR }
        guard inode.type == .regular else { throw .EINVAL }
        guard size >= 0 else { throw .EINVAL }
        guard size <= inode.sb.maxFileSize else { throw .EFBIG }
      }
      try inode.ops.setattr(inode, attr, cred: cred)
      if attr.mode != nil, inode.sb.posixAcl { inode.lock.withLock { PosixAcl.chmodLocked(inode) } }
    }
    return try getattr(inode)
  }

  /// Like file_remove_privs() for a write-like change (write, truncate,
  /// O_TRUNC, fallocate, hole punch) by `cred`: a caller without CAP_FSETID
  /// (not root) clears setuid, and setgid where should_remove_suid() and
  /// setattr_should_drop_sgid() say so: with group execute, or when the
  /// caller is not in the file's group. The FUSE kernel clears some of these
  /// itself (setuid, setgid with group execute) on write and truncate, but
  /// not the non-member case, nor anything on fallocate or an O_TRUNC open
  /// (FUSE_ATOMIC_O_TRUNC skips its SETATTR); tmpfs clears them all.
  /// `groups` gives the caller's supplementary groups; called only if needed.
  /// Returns whether it cleared a bit.
  @discardableResult
  public func killPrivileges(_ inode: Inode, cred: Cred, groups: () -> [UInt32]) -> Bool {
    guard !cred.isRoot, inode.type == .regular else { return false }
    let (mode, gid) = inode.lock.withLock { (inode.mode, inode.gid) }
    guard mode & (ModeBits.setuid | ModeBits.setgid) != 0 else { return false }
    var kill = mode & ModeBits.setuid
    if mode & ModeBits.setgid != 0 {
      if mode & ModeBits.groupExec != 0 || (cred.gid != gid && !groups().contains(gid)) {
        kill |= ModeBits.setgid
      }
    }
    guard kill != 0 else { return false }
    inode.lock.withLock {
      inode.mode &= ~kill
      inode.touchChanged()
    }
    return true
  }

  /// Like vfs_readlink(): a symlink's target.
  public func readlink(_ inode: Inode) throws(Errno) -> [UInt8] {
    try inode.ops.readlink(inode)
  }

  /// Like vfs_statfs(): the statistics of the inode's superblock.
  public func statfs(_ inode: Inode) -> StatFS {
    inode.sb.ops.statfs(inode.sb)
  }

  /// Like sync_filesystem() for syncfs(2): the ->sync_fs of the inode's
  /// superblock, waiting, so everything it held dirty is written back (EIO
  /// if a write failed); a read-only superblock has nothing to write.
  public func syncFS(_ inode: Inode) throws(Errno) {
    guard !inode.sb.readOnly else { return }
    try inode.sb.ops.syncFS(inode.sb, wait: true)
  }

  /// Like ksys_sync() (sync(2)): the ->sync_fs of every mounted superblock
  /// that can be written, waiting. Every one is synced even if one fails;
  /// the first error (EIO) is thrown after. FUSE never sends this for
  /// sync(2), so /proc/sysrq-trigger is the way in (ProcTree).
  public func syncAll() throws(Errno) {
    let superBlocks = mountLock.withLock { mounts.map(\.superBlock) }
    var firstError: Errno?
    for sb in superBlocks where !sb.readOnly {
      do {
        try sb.ops.syncFS(sb, wait: true)
      } catch {
        if firstError == nil { firstError = error }
      }
    }
    if let firstError { throw firstError }
  }

  // MARK: - Extended attributes

  /// Like xattr_permission(): user.* lives only on regular files and
  /// directories; trusted.* is for root alone (CAP_SYS_ADMIN). Checked on
  /// the VFS type, since the kernel above sees a driver-backed char node as
  /// a regular file and lets user.* through for it.
  private func checkXattrAccess(_ inode: Inode, _ name: String, write: Bool, cred: Cred)
    throws(Errno)
  {
    if name.hasPrefix("trusted."), !cred.isRoot { throw write ? .EPERM : .ENODATA }
    if name.hasPrefix("user."), inode.type != .regular, inode.type != .directory {
      throw write ? .EPERM : .ENODATA
    }
  }

  /// Like vfs_getxattr(): an attribute's value, ACLs included.
  public func getxattr(_ inode: Inode, _ name: String, cred: Cred) throws(Errno) -> [UInt8] {
    if let kind = PosixAcl.Kind(xattrName: name) {
      // Without ACLs: "no ACL" (ENODATA), which the FUSE kernel reads as
      // such when it checks permissions; EOPNOTSUPP would fail the check.
      guard inode.sb.posixAcl else { throw .ENODATA }
      return try PosixAcl.get(inode, kind)
    }
    try checkXattrAccess(inode, name, write: false, cred: cred)
    return try inode.ops.getxattr(inode, name)
  }

  /// `groups` gives the caller's supplementary groups, for setting an ACL
  /// (posix_acl_update_mode() may clear setgid).
  public func setxattr(
    _ inode: Inode, _ name: String, _ value: [UInt8], flags: XattrFlags, cred: Cred,
    groups: () -> [UInt32] = { [] }
  ) throws(Errno) {
    guard !inode.sb.readOnly else { throw .EROFS }
    if let kind = PosixAcl.Kind(xattrName: name), inode.sb.posixAcl {
      // Like do_set_acl(): the flags do not apply to ACLs.
      let acl = try PosixAcl.parse(xattr: value)
      return try PosixAcl.set(inode, kind, acl, cred: cred, groups: groups)
    }
    try checkXattrAccess(inode, name, write: true, cred: cred)
    try checkMayModify(inode)  // xattr_permission(): not under i or a
    try inode.ops.setxattr(inode, name, value, flags: flags)
  }

  /// The names getxattr would answer: no trusted.* for others than root,
  /// and no user.* on what is neither a regular file nor a directory.
  public func listxattr(_ inode: Inode, cred: Cred) throws(Errno) -> [String] {
    let userAllowed = inode.type == .regular || inode.type == .directory
    let names = try inode.ops.listxattr(inode).filter {
      (cred.isRoot || !$0.hasPrefix("trusted.")) && (userAllowed || !$0.hasPrefix("user."))
    }
    return inode.sb.posixAcl ? PosixAcl.names(inode) + names : names
  }

  /// Like vfs_removexattr(): removes an attribute or an ACL.
  public func removexattr(
    _ inode: Inode, _ name: String, cred: Cred, groups: () -> [UInt32] = { [] }
  ) throws(Errno) {
    guard !inode.sb.readOnly else { throw .EROFS }
    if let kind = PosixAcl.Kind(xattrName: name), inode.sb.posixAcl {
      // Like vfs_remove_acl(): removing an ACL that is not there succeeds.
      return try PosixAcl.set(inode, kind, nil, cred: cred, groups: groups)
    }
    try checkXattrAccess(inode, name, write: true, cred: cred)
    try checkMayModify(inode)  // xattr_permission(): not under i or a
    try inode.ops.removexattr(inode, name)
  }

  // MARK: - Open files

  /// Like do_dentry_open(): makes a File with the inode's fops (or, for a
  /// character device, the driver's: chrdev_open) and gives it a handle.
  /// `asked`: the flags the caller gave, if the bridge rewrote them for the
  /// writeback cache; the chattr checks judge those.
  public func open(_ inode: Inode, flags: Int32, cred: Cred, asked: Int32? = nil) throws(Errno)
    -> (UInt64, File)
  {
    let accessMode = flags & 3
    let wantsWrite = accessMode != 0 || flags & OpenFlags.truncate != 0
    switch inode.type {
    case .directory:
      if accessMode != 0 { throw .EISDIR }
    case .symlink:
      throw .ELOOP
    case .blockDevice:
      throw .ENXIO
    case .fifo, .socket:
      break
    case .characterDevice, .regular:
      if flags & OpenFlags.directory != 0 { throw .ENOTDIR }
    }
    if wantsWrite, inode.sb.readOnly { throw .EROFS }
    try checkMayOpen(inode, flags: asked ?? flags)
    try icache.openFile(inode)
    let file = File(inode: inode, flags: flags, cred: cred, fileOps: inode.fileOps)
    do throws(Errno) {
      if inode.type == .characterDevice {
        try chrdevs.open(inode, file)
      } else {
        try file.fileOps.open(inode, file)
      }
      // Linux truncates on O_TRUNC even with O_RDONLY (the kernel has checked
      // write permission for it).
      if flags & OpenFlags.truncate != 0, inode.type == .regular {
        try inode.ops.setattr(inode, SetAttr(size: 0), cred: cred)
      }
      // The kernel's cache would serve a read that must move atime.
      if file.isReadable, file.keepCache || file.cacheDirectory, inode.atimeWouldUpdate() {
        file.keepCache = false
        file.cacheDirectory = false
      }
    } catch {
      icache.closeFile(inode, evict: evict)
      throw error
    }
    return (files.install(file), file)
  }

  /// Like open(O_CREAT) reaching ->create (atomic_open): creates the file, or
  /// opens the existing one unless O_EXCL.
  public func create(
    _ dir: Inode, _ name: FileName, mode: UInt32, flags: Int32, cred: Cred, asked: Int32? = nil
  ) throws(Errno) -> (Inode, UInt64, File) {
    // An existing file found by name may be unlinked before it is opened;
    // then the name is free again: try once more.
    for _ in 0..<3 {
      let inode: Inode
      var openFlags = flags & ~OpenFlags.truncate  // a new file is empty already
      var existed = false
      do throws(Errno) {
        inode = try makeEntry(dir, name) { dir throws(Errno) in
          let (mode, acls) = PosixAcl.create(
            in: dir, mode: FileType.regular.rawValue | mode & 0o7777, cred: cred)
          let inode = try dir.ops.create(dir, name, mode: mode, cred: cred)
          acls.install(on: inode)
          return inode
        }
      } catch  where error == .EEXIST && flags & OpenFlags.exclusive == 0 {
        inode = try lookup(dir, name)
        openFlags = flags
        existed = true
      }
      do throws(Errno) {
        let (fh, file) = try open(
          inode, flags: openFlags, cred: cred,
          asked: asked.map { existed ? $0 : $0 & ~OpenFlags.truncate })
        return (inode, fh, file)
      } catch {
        forget(inode.ino, count: 1)
        if !(existed && error == .ENOENT) { throw error }
      }
    }
    throw .ENOENT
  }

  /// The open file for handle `fh`, or EBADF (fdget).
  public func file(_ fh: UInt64) throws(Errno) -> File {
    guard let file = files.get(fh) else { throw .EBADF }
    return file
  }

  /// Like __fput(): the last close of a File.
  public func release(_ fh: UInt64) {
    guard let file = files.remove(fh) else { return }
    file.fileOps.release(file.inode, file)
    icache.closeFile(file.inode, evict: evict)
  }

  /// Files open now.
  public var openFileCount: Int { files.count }

  /// Like vfs_read(): checks the mode and offset, then the file's ->read.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard file.isReadable else { throw .EBADF }
    guard offset >= 0 else { throw .EINVAL }
    return try file.fileOps.read(file, into: buffer, at: offset)
  }

  /// `read` without a copy, where the file system can (see
  /// `FileOperations.spliceRead`); false if it cannot.
  public func spliceRead(
    _ file: File, at offset: Int64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) -> Bool {
    guard file.isReadable else { throw .EBADF }
    guard offset >= 0 else { throw .EINVAL }
    return try file.fileOps.spliceRead(file, at: offset, count: count, to: sink)
  }

  /// Like vfs_write(): checks the mode and offset, then the file's ->write.
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard file.isWritable else { throw .EBADF }
    guard offset >= 0 else { throw .EINVAL }
    return try file.fileOps.write(file, from: buffer, at: offset)
  }

  /// Lists a directory from cookie `offset`; covered mount points show the
  /// mounted root, as getdents shows what a path walk would find. With
  /// `inodes` false (a listing of names: FUSE READDIR) an entry that is
  /// neither a directory nor a character device may come without its inode
  /// (see `FileOperations.iterate(_:from:inodes:_:)`).
  public func readdir(
    _ file: File, from offset: Int64, inodes: Bool = true, _ emit: (DirEntry) -> Bool
  ) throws(Errno) {
    guard offset >= 0 else { throw .EINVAL }
    try iterateWithSynthesized(file, from: offset, inodes: inodes) { entry in
      // Only a directory can be covered: the entry's type says so without
      // touching (retaining) the inode of every other entry.
      guard entry.type == .directory, let inode = entry.inode, inode.isDirectory else {
        return emit(entry)
      }
      let shown = crossMount(inode)
      if shown === inode { return emit(entry) }
      var e = entry
      e.inode = shown
      e.ino = shown.ino
      return emit(e)
    }
    // Like iterate_dir(): file_accessed() after every listing.
    file.inode.lock.withLock { file.inode.touchAtimeLocked() }
  }

  /// `readdir` with `inodes` false for a listing that copies each entry out
  /// at once (FUSE READDIR, getdents): each entry's name is borrowed, valid
  /// only during the `emit` call (`DirEntryView`), so the listing makes no
  /// `FileName` or `DirEntry` per entry. The same entries as `readdir`: the
  /// synthesized mount points of the directory, covered mount points shown
  /// as the mounted root, then file_accessed().
  public func readdirNames(
    _ file: File, from offset: Int64, _ emit: (DirEntryView) -> Bool
  ) throws(Errno) {
    guard offset >= 0 else { throw .EINVAL }
    // The covered directories, once per listing (none in most trees: /dev
    // and /proc are synthesized). An entry without its inode is covered if
    // its number is that of a covered directory of this directory's
    // superblock: the file system's own entries are all of it.
    let covered = mountLock.withLock {
      mounts.compactMap { mount in mount.mountPoint.map { ($0, mount.superBlock.root) } }
    }
    let sb = file.inode.sb
    try iterateNamesWithSynthesized(file, from: offset) { entry in
      guard !covered.isEmpty, entry.type == .directory, !entry.isDotOrDotDot else {
        return emit(entry)
      }
      let found = covered.first { (dir, _) in
        if let inode = entry.inode { return dir === inode }
        return dir.sb === sb && dir.ino == entry.ino
      }
      // Like follow_mount(), as `crossMount` does for `readdir`.
      guard let root = found?.1 else { return emit(entry) }
      return emit(
        DirEntryView(
          name: entry.name, ino: root.ino, type: .directory, offset: entry.offset, inode: root))
    }
    // Like iterate_dir(): file_accessed() after every listing.
    file.inode.lock.withLock { file.inode.touchAtimeLocked() }
  }

  /// Like vfs_fsync_range(): the file's ->fsync.
  public func fsync(_ file: File, dataOnly: Bool) throws(Errno) {
    try file.fileOps.fsync(file, dataOnly: dataOnly)
  }

  /// Like the end of a mount's life (deactivate_super() → kill_sb →
  /// ->put_super) for every superblock, the last mounted first: each writes
  /// back what it holds and lets its storage go. Call it once, after the FUSE
  /// session has ended (no request can come any more); the VFS must not be
  /// used afterwards.
  public func unmountAll() {
    let all = mountLock.withLock { mounts }
    for mount in all.reversed() { mount.superBlock.ops.putSuper(mount.superBlock) }
  }

  /// Like filp_close()'s flush: the file's ->flush, on each close(2).
  public func flush(_ file: File) throws(Errno) {
    try file.fileOps.flush(file)
  }

  /// Like vfs_llseek(): the file's ->llseek.
  public func lseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 {
    try file.fileOps.llseek(file, offset: offset, whence: whence)
  }

  /// Like vfs_fallocate(): the generic checks, then the file's ->fallocate.
  public func fallocate(_ file: File, mode: Int32, offset: Int64, length: Int64) throws(Errno) {
    guard offset >= 0, length > 0 else { throw .EINVAL }
    guard file.isWritable else { throw .EBADF }
    guard !file.inode.sb.readOnly else { throw .EROFS }
    let known = Fallocate.keepSize | Fallocate.punchHole
    guard mode & ~known == 0 else { throw .EOPNOTSUPP }
    if mode & Fallocate.punchHole != 0, mode & Fallocate.keepSize == 0 { throw .EOPNOTSUPP }
    if file.inode.isDirectory { throw .EISDIR }
    guard file.inode.type == .regular else { throw .ENODEV }
    try checkMayFallocate(file.inode, mode: mode)
    guard offset.addingReportingOverflow(length).overflow == false,
      offset + length <= file.inode.sb.maxFileSize
    else { throw .EFBIG }
    try file.fileOps.fallocate(file, mode: mode, offset: offset, length: length)
  }

  /// Like do_vfs_ioctl(): the chattr flag calls, then the file's ->unlocked_ioctl.
  public func ioctl(
    _ file: File, command: UInt32, argument: UInt64, input: UnsafeRawBufferPointer,
    outputSize: Int
  ) throws(Errno) -> (result: Int32, output: [UInt8]) {
    // Like do_vfs_ioctl(): the flag calls first; ENOIOCTLCMD (here ENOTTY,
    // a file system without ->fileattr_get) falls through to the driver.
    do throws(Errno) {
      if let served = try flagsIoctl(file, command: command, input: input) { return served }
    } catch  where error == .ENOTTY {}
    return try file.fileOps.ioctl(
      file, command: command, argument: argument, input: input, outputSize: outputSize)
  }

  /// Like vfs_poll(): the file's ->poll.
  public func poll(_ file: File, waiter: PollWaiter?) -> PollEvents {
    file.fileOps.poll(file, waiter: waiter)
  }
}

/// open(2) flag bits the VFS looks at (x86-64 / generic values).
public enum OpenFlags {
  /// The access mode bits (O_ACCMODE).
  public static let accessMode: Int32 = 0o3
  /// Create the file if absent (O_CREAT).
  public static let create: Int32 = 0o100
  /// With O_CREAT: fail with EEXIST if it exists (O_EXCL).
  public static let exclusive: Int32 = 0o200
  /// Truncate to 0 at open (O_TRUNC).
  public static let truncate: Int32 = 0o1000
  /// Every write goes to the end (O_APPEND).
  public static let append: Int32 = 0o2000
  /// Do not sleep: EAGAIN instead (O_NONBLOCK).
  public static let nonBlock: Int32 = 0o4000
  /// Bypass the page cache (O_DIRECT).
  public static let direct: Int32 = 0o40000
  /// Fail with ENOTDIR unless it is a directory (O_DIRECTORY).
  public static let directory: Int32 = 0o200000
  /// An unnamed file in the directory given (O_TMPFILE: __O_TMPFILE | O_DIRECTORY).
  public static let tmpfile: Int32 = 0o20200000
}

/// fallocate(2) modes.
public enum Fallocate {
  /// Do not change the size (FALLOC_FL_KEEP_SIZE).
  public static let keepSize: Int32 = 0x01
  /// Free the range, leaving a hole (FALLOC_FL_PUNCH_HOLE).
  public static let punchHole: Int32 = 0x02
}
