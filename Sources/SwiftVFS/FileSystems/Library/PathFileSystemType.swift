import SwiftVFSCore

/// Mounts a `PathFileSystem` on the VFS: a file system type whose inodes
/// carry their path (like libfuse's high-level layer over the low-level one,
/// lib/fuse.c, with its node table).
///
/// One inode per path and type, kept until the path is removed or renamed
/// over (so `ls -i` and `stat` agree, and an inode number names one file).
/// A rename moves the paths of everything below a renamed directory; a
/// listing is read once per opendir (or rewinddir) and its cookies index
/// that snapshot, so a listing resumed anywhere lists each entry once.
///
/// What it does not do: hard links (EPERM), device nodes and FIFOs (EPERM),
/// xattrs (EOPNOTSUPP). A change made behind the kernel's back is seen when
/// the kernel asks again (after `entry_timeout`/`attr_timeout`); the kernel
/// may keep file pages between opens only while no open happens (no
/// keep_cache, as libfuse's default).
public final class PathFileSystemType: FileSystemType {
  /// The type's name, as `VFS.mount` takes it.
  public let name: String
  /// The file system served.
  public let fileSystem: PathFileSystem
  /// statfs's f_type.
  public let magic: UInt64

  /// Serves `fileSystem` under the type name `name`.
  public init(name: String, _ fileSystem: PathFileSystem, magic: UInt64 = 0x5041_5448) {
    self.name = name
    self.fileSystem = fileSystem
    self.magic = magic
  }

  /// A superblock whose root is "/" (which must be a directory: ENOTDIR).
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let attrs = try fileSystem.getattr("/")
    guard attrs.type == .directory else { throw .ENOTDIR }
    let sb = SuperBlock(
      fsType: self, ops: PathSuperOperations(), context: context, magic: magic)
    let table = PathTable(fileSystem, cred: context.cred)
    sb.privateData = table
    let root = try table.inode(at: "/", type: .directory, sb: sb)
    PathOperations.refresh(root, attrs)
    sb.setRoot(root)
    return sb
  }
}

/// statfs and evict_inode: the defaults; the checker's listing from the
/// file system's readdir, without the namespace lock (the checker holds it).
struct PathSuperOperations: SuperOperations {
  func listDirectory(_ dir: Inode) -> [(FileName, Inode)]? {
    let table = PathTable.of(dir.sb)
    let path = PathOperations.path(dir)
    guard let entries = try? table.fs.readdir(path) else { return [] }
    return entries.compactMap { entry in
      guard let name = try? FileName.validated(Array(entry.name.utf8)), !name.isDotOrDotDot,
        let inode = try? table.inode(
          at: path == "/" ? "/" + entry.name : path + "/" + entry.name, type: entry.type,
          sb: dir.sb)
      else { return nil }
      return (name, inode)
    }
  }
}

/// The path of one inode (its private data); changed by renames.
final class PathNode: @unchecked Sendable {
  private let lock = Lock()
  private var path_: String
  init(_ path: String) { path_ = path }
  var path: String {
    get { lock.withLock { path_ } }
    set { lock.withLock { path_ = newValue } }
  }

  static func of(_ inode: Inode) -> PathNode {
    unsafeDowncast(inode.privateData!, to: PathNode.self)
  }
}

/// The superblock's node table: path -> inode (lib/fuse.c's name hash).
final class PathTable: @unchecked Sendable {
  let fs: PathFileSystem
  let cred: Cred
  private let lock = Lock()
  private var inodes: [String: Inode] = [:]

  init(_ fs: PathFileSystem, cred: Cred) {
    self.fs = fs
    self.cred = cred
  }

  static func of(_ sb: SuperBlock) -> PathTable {
    unsafeDowncast(sb.privateData!, to: PathTable.self)
  }

  /// The inode for `path`, made if there is none of that type.
  func inode(at path: String, type: FileType, sb: SuperBlock) throws(Errno) -> Inode {
    try lock.withLock { () throws(Errno) -> Inode in
      if let inode = inodes[path], inode.type == type { return inode }
      let inode = try sb.newInode(
        mode: type.rawValue, cred: cred, ops: PathOperations.shared,
        fileOps: PathOperations.shared)
      inode.privateData = PathNode(path)
      inodes[path] = inode
      return inode
    }
  }

  /// Forgets `path` if it still names `inode` (or anything, when nil).
  func remove(_ path: String, _ inode: Inode? = nil) {
    lock.withLock {
      if inode == nil || inodes[path] === inode { inodes[path] = nil }
    }
  }

  /// Moves `from` and every path below it to `to`; with `exchange`, `to`'s
  /// subtree moves to `from` at the same time.
  func move(_ from: String, _ to: String, exchange: Bool) {
    lock.withLock {
      func subtree(_ root: String) -> [(String, Inode)] {
        inodes.filter { $0.key == root || $0.key.hasPrefix(root == "/" ? "/" : root + "/") }
          .map { ($0.key, $0.value) }
      }
      let moving = subtree(from)
      let coming = exchange ? subtree(to) : []
      for (path, _) in moving { inodes[path] = nil }
      for (path, _) in coming { inodes[path] = nil }
      for (path, inode) in moving {
        let moved = to + path.dropFirst(from.count)
        PathNode.of(inode).path = moved
        inodes[moved] = inode
      }
      for (path, inode) in coming {
        let moved = from + path.dropFirst(to.count)
        PathNode.of(inode).path = moved
        inodes[moved] = inode
      }
    }
  }
}

/// The inode and file operations of every inode of a path file system: each
/// turns the inode into its path and calls the `PathFileSystem`.
struct PathOperations: InodeOperations, FileOperations {
  static let shared = PathOperations()

  static func path(_ inode: Inode) -> String { PathNode.of(inode).path }

  /// The path of `name` in `dir`; EINVAL for a name that is not UTF-8.
  static func path(_ dir: Inode, _ name: FileName) throws(Errno) -> String {
    guard let component = String(validating: name.bytes, as: UTF8.self) else { throw .EINVAL }
    let base = path(dir)
    return base == "/" ? "/" + component : base + "/" + component
  }

  /// Copies what getattr reported into the inode.
  static func refresh(_ inode: Inode, _ attrs: PathAttributes) {
    inode.lock.withLock {
      inode.mode = inode.type.rawValue | attrs.permissions & ModeBits.permissions
      inode.size = attrs.size
      inode.blocks = (attrs.size + 511) / 512
      inode.nlink = max(attrs.nlink ?? (inode.isDirectory ? 2 : 1), 1)
      if let uid = attrs.uid { inode.uid = uid }
      if let gid = attrs.gid { inode.gid = gid }
      inode.rdev = attrs.rdev
      if let t = attrs.atime { inode.atime = t }
      if let t = attrs.mtime { inode.mtime = t }
      if let t = attrs.ctime { inode.ctime = t }
    }
  }

  /// Reads a directory's attributes again after a change in it (its link
  /// count, size and times moved), as fuse_dir_changed() makes the kernel do.
  static func changed(_ dirs: Inode...) {
    for dir in dirs {
      let fs = PathTable.of(dir.sb).fs
      if let attrs = try? fs.getattr(path(dir)), attrs.type == dir.type { refresh(dir, attrs) }
    }
  }

  /// getattr of a new entry, then its inode.
  private func instantiate(_ dir: Inode, _ path: String) throws(Errno) -> Inode {
    let table = PathTable.of(dir.sb)
    let attrs = try table.fs.getattr(path)
    let inode = try table.inode(at: path, type: attrs.type, sb: dir.sb)
    PathOperations.refresh(inode, attrs)
    // Its ".." (the VFS sets it for entries made through it; a path found
    // by lookup gets it here, written only when it changes).
    if inode.isDirectory, inode.parentDirectory !== dir { inode.parentDirectory = dir }
    return inode
  }

  /// A new entry: its inode, and the directory's attributes again.
  private func created(_ dir: Inode, _ path: String) throws(Errno) -> Inode {
    let inode = try instantiate(dir, path)
    PathOperations.changed(dir)
    return inode
  }

  // MARK: Inode operations

  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    guard let path = try? PathOperations.path(dir, name) else { return nil }
    do {
      return try instantiate(dir, path)
    } catch  where error == .ENOENT {
      PathTable.of(dir.sb).remove(path)
      return nil
    }
  }

  /// The path's attributes now; ENOENT if the path now holds another type
  /// (the kernel then looks the name up again).
  func getattr(_ inode: Inode) throws(Errno) -> Stat {
    let attrs = try PathTable.of(inode.sb).fs.getattr(PathOperations.path(inode))
    guard attrs.type == inode.type else { throw .ENOENT }
    PathOperations.refresh(inode, attrs)
    return Simple.getattr(inode)
  }

  /// Splits a setattr into truncate, chmod, chown and utimens, in that order.
  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    let fs = PathTable.of(inode.sb).fs
    let path = PathOperations.path(inode)
    if let size = attr.size { try fs.truncate(path, size: size) }
    if let mode = attr.mode { try fs.chmod(path, mode: mode & ModeBits.permissions) }
    if attr.uid != nil || attr.gid != nil { try fs.chown(path, uid: attr.uid, gid: attr.gid) }
    if attr.atime != nil || attr.mtime != nil {
      try fs.utimens(path, atime: attr.atime, mtime: attr.mtime)
    }
    if let attrs = try? fs.getattr(path), attrs.type == inode.type {
      PathOperations.refresh(inode, attrs)
    }
  }

  func create(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    let path = try PathOperations.path(dir, name)
    try PathTable.of(dir.sb).fs.create(path, mode: mode & ModeBits.permissions, cred: cred)
    return try created(dir, path)
  }

  /// Regular files only (FIFOs, sockets and devices: EPERM).
  func mknod(_ dir: Inode, _ name: FileName, mode: UInt32, rdev: DevT, cred: Cred) throws(Errno)
    -> Inode
  {
    guard FileType(mode: mode) == .regular else { throw .EPERM }
    return try create(dir, name, mode: mode, cred: cred)
  }

  func mkdir(_ dir: Inode, _ name: FileName, mode: UInt32, cred: Cred) throws(Errno) -> Inode {
    let path = try PathOperations.path(dir, name)
    try PathTable.of(dir.sb).fs.mkdir(path, mode: mode & ModeBits.permissions, cred: cred)
    return try created(dir, path)
  }

  func symlink(_ dir: Inode, _ name: FileName, target: [UInt8], cred: Cred) throws(Errno) -> Inode {
    let path = try PathOperations.path(dir, name)
    guard let text = String(validating: target, as: UTF8.self) else { throw .EINVAL }
    try PathTable.of(dir.sb).fs.symlink(path, target: text, cred: cred)
    return try created(dir, path)
  }

  func unlink(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    let path = try PathOperations.path(dir, name)
    try PathTable.of(dir.sb).fs.unlink(path)
    PathOperations.removed(victim, at: path)
    PathOperations.changed(dir)
  }

  func rmdir(_ dir: Inode, _ name: FileName, _ victim: Inode) throws(Errno) {
    let path = try PathOperations.path(dir, name)
    try PathTable.of(dir.sb).fs.rmdir(path)
    PathOperations.removed(victim, at: path)
    PathOperations.changed(dir)
  }

  /// The path is gone: its inode has no name left (the VFS frees it when
  /// no one holds it).
  static func removed(_ victim: Inode, at path: String) {
    PathTable.of(victim.sb).remove(path, victim)
    victim.lock.withLock {
      victim.nlink = 0
      victim.touchChanged()
    }
  }

  func rename(
    _ oldDir: Inode, _ oldName: FileName, _ inode: Inode,
    _ newDir: Inode, _ newName: FileName, _ target: Inode?, flags: RenameFlags
  ) throws(Errno) {
    let table = PathTable.of(oldDir.sb)
    let from = try PathOperations.path(oldDir, oldName)
    let to = try PathOperations.path(newDir, newName)
    try table.fs.rename(from, to, flags: flags)
    if flags.contains(.exchange) {
      table.move(from, to, exchange: true)
    } else {
      if let target { PathOperations.removed(target, at: to) }
      table.move(from, to, exchange: false)
    }
    if oldDir === newDir {
      PathOperations.changed(oldDir)
    } else {
      PathOperations.changed(oldDir, newDir)
    }
  }

  func readlink(_ inode: Inode) throws(Errno) -> [UInt8] {
    Array(try PathTable.of(inode.sb).fs.readlink(PathOperations.path(inode)).utf8)
  }

  // MARK: File operations

  /// A directory's listing, read at opendir and at each rewind.
  final class Listing: @unchecked Sendable {
    var entries: [PathDirectoryEntry]?
  }

  func open(_ inode: Inode, _ file: File) throws(Errno) {
    if inode.isDirectory {
      file.privateData = Listing()
      return
    }
    try PathTable.of(inode.sb).fs.open(PathOperations.path(inode), flags: file.flags)
  }

  func release(_ inode: Inode, _ file: File) {
    if !inode.isDirectory {
      PathTable.of(inode.sb).fs.release(PathOperations.path(inode))
    }
  }

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    try PathTable.of(file.inode.sb).fs.read(
      PathOperations.path(file.inode), into: buffer, at: offset)
  }

  /// An O_APPEND write goes to the end the file system reports now.
  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  {
    let fs = PathTable.of(file.inode.sb).fs
    let path = PathOperations.path(file.inode)
    let start = file.isAppend ? try fs.getattr(path).size : offset
    let n = try fs.write(path, from: buffer, at: start)
    file.inode.lock.withLock {
      file.inode.size = max(file.inode.size, start + Int64(n))
      file.inode.touchModified()
    }
    return n
  }

  func fsync(_ file: File, dataOnly: Bool) throws(Errno) {
    guard !file.inode.isDirectory else { return }
    try PathTable.of(file.inode.sb).fs.fsync(PathOperations.path(file.inode))
  }

  /// ".", "..", then the snapshot's entries after cookie `offset` (entry
  /// `i` has cookie `i + 3`). Names that are not valid file names are
  /// left out.
  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    let dir = file.inode
    guard let listing = file.privateData as? Listing else { throw .ENOTDIR }
    let path = PathOperations.path(dir)
    let table = PathTable.of(dir.sb)
    let entries = try file.lock.withLock { () throws(Errno) -> [PathDirectoryEntry] in
      if offset == 0 || listing.entries == nil { listing.entries = try table.fs.readdir(path) }
      return listing.entries ?? []
    }
    try dir.sb.namespaceLock.withReadLock { () throws(Errno) in
      guard Simple.emitDots(file, from: offset, emit) else { return }
      var i = Int(max(offset - 2, 0))
      while i < entries.count {
        let entry = entries[i]
        i += 1
        guard let name = try? FileName.validated(Array(entry.name.utf8)), !name.isDotOrDotDot
        else { continue }
        let childPath = path == "/" ? "/" + entry.name : path + "/" + entry.name
        let child = try table.inode(at: childPath, type: entry.type, sb: dir.sb)
        if child.isDirectory, child.parentDirectory == nil { child.parentDirectory = dir }
        let e = DirEntry(
          name: name, ino: child.ino, type: child.type, offset: Int64(i) + 2, inode: child)
        guard emit(e) else { return }
      }
    }
  }
}
