import SwiftVFSCore

/// A file system declared as a tree, in a few lines: directories (read-only
/// `StaticDirectory`, or writable `MemoryDirectory`), read-only files from
/// bytes or from a closure (`ReadOnlyFile`), writable memory files
/// (`MemoryFile`), symlinks, device nodes, and inodes of your own.
///
///     let fs = TreeFileSystem(name: "demo") { root in
///       root.file("hello", "Hello!\n")
///       root.file("time") { "\(Timestamp.now.sec)\n" }
///       root.memoryFile("notes.txt")
///       root.directory("dev") { dev in dev.charDevice("counter", try! DevT(major: 240, minor: 0)) }
///     }
///     try vfs.filesystems.register(fs)
///     try vfs.mount("demo", at: "/", options: MountOptions())
///
/// Each mount makes a fresh tree from the declaration (memory files start
/// with the content declared). The root is made first, so it is the
/// superblock's first inode. A bad name ("/", NUL, ".", "..", empty, over
/// 255 bytes) makes the mount fail with EINVAL, a name given twice in one
/// directory with EEXIST.
///
/// What it does not do: it does not register drivers for the device nodes
/// it makes (register a `Cdev` for the number with `vfs.chrdevs`), and a
/// read-only directory takes no new entries (EACCES/EPERM as the kernel
/// answers); declare it `writable` for that.
public final class TreeFileSystem: FileSystemType {
  /// The type's name, as `VFS.mount` takes it.
  public let name: String
  /// statfs's f_type.
  public let magic: UInt64
  let root: TreeDirectory.Declaration

  /// Declares a tree: `build` fills the root directory (read-only, mode
  /// 0555, unless `writable` or `mode` say otherwise) and runs once, now.
  public init(
    name: String, magic: UInt64 = 0x5452_4545, mode: UInt32? = nil, writable: Bool = false,
    _ build: (TreeDirectory) throws -> Void
  ) rethrows {
    self.name = name
    self.magic = magic
    let dir = TreeDirectory(writable: writable, mode: mode)
    try build(dir)
    root = dir.declaration
  }

  /// Makes a superblock whose root is a fresh copy of the declared tree,
  /// owned by the mounter.
  public func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(fsType: self, ops: TreeSuperOperations(), context: context, magic: magic)
    sb.setRoot(try TreeDirectory.make(root, in: sb, cred: context.cred))
    return sb
  }

  /// Builds the declared tree in a superblock of yours and returns its root
  /// directory (not yet added anywhere; add it with `StaticDirectory.add`
  /// or `MemoryDirectory.add`, or make it your superblock's root). Remember
  /// `MemoryFile.evict` in your `evictInode`.
  public func makeRoot(in sb: SuperBlock, cred: Cred = .root) throws(Errno) -> Inode {
    try TreeDirectory.make(root, in: sb, cred: cred)
  }
}

/// The superblock operations of a tree, fit for any superblock that holds
/// the library's nodes: statfs as simple_statfs(), eviction that gives
/// memory files' blocks back, and the raw listing of static and memory
/// directories that the checker (`VFS.check`) reads.
public struct TreeSuperOperations: SuperOperations {
  /// The table (it holds no state).
  public init() {}

  /// Like shmem_evict_inode() for memory files; then the inode's slot.
  public func evictInode(_ inode: Inode) {
    MemoryFile.evict(inode)
    inode.sb.releaseInode()
  }

  /// The entries of a `StaticDirectory` or a `MemoryDirectory`, read
  /// without the namespace lock (the checker holds it); nil for others.
  public func listDirectory(_ dir: Inode) -> [(FileName, Inode)]? {
    if let ops = dir.ops as? StaticDirectory { return ops.entries.map { ($0.name, $0.inode) } }
    if MemoryDirectory.isMemoryDirectory(dir) {
      return Memfs.directory(dir).slots.compactMap { $0.map { ($0.name, $0.inode) } }
    }
    return nil
  }
}

/// One directory of a `TreeFileSystem` being declared: each call adds an
/// entry, in the order listing shows them.
public final class TreeDirectory {
  /// What one entry is.
  indirect enum Node: Sendable {
    case file(ReadOnlyFile, mode: UInt32)
    case memoryFile([UInt8], mode: UInt32)
    case directory(Declaration)
    case symlink([UInt8])
    case device(FileType, DevT, mode: UInt32)
    case custom(@Sendable (SuperBlock, Cred) throws(Errno) -> Inode)
  }

  /// A declared directory: its kind, mode and entries.
  struct Declaration: Sendable {
    var writable: Bool
    var mode: UInt32
    var entries: [(name: String, node: Node)] = []
  }

  private(set) var declaration: Declaration

  init(writable: Bool, mode: UInt32?) {
    declaration = Declaration(writable: writable, mode: mode ?? (writable ? 0o755 : 0o555))
  }

  /// A read-only file holding `text` (UTF-8).
  public func file(_ name: String, _ text: String, mode: UInt32 = 0o444) {
    add(name, .file(ReadOnlyFile(text), mode: mode))
  }

  /// A read-only file holding `bytes`.
  public func file(_ name: String, bytes: [UInt8], mode: UInt32 = 0o444) {
    add(name, .file(ReadOnlyFile(bytes), mode: mode))
  }

  /// A read-only file whose text `generate` makes at each open (see
  /// `ReadOnlyFile`: direct I/O, a snapshot per open).
  public func file(
    _ name: String, mode: UInt32 = 0o444, generate: @escaping @Sendable () -> String
  ) {
    add(name, .file(ReadOnlyFile(generate: { Array(generate().utf8) }), mode: mode))
  }

  /// A writable memory file (memfs's), starting with `text`.
  public func memoryFile(_ name: String, _ text: String = "", mode: UInt32 = 0o644) {
    add(name, .memoryFile(Array(text.utf8), mode: mode))
  }

  /// A subdirectory: read-only (mode 0555) unless `writable` (mode 0755,
  /// a memory directory); `build` fills it, now.
  public func directory(
    _ name: String, mode: UInt32? = nil, writable: Bool = false,
    _ build: (TreeDirectory) throws -> Void
  ) rethrows {
    let dir = TreeDirectory(writable: writable, mode: mode)
    try build(dir)
    add(name, .directory(dir.declaration))
  }

  /// An empty subdirectory: read-only (mode 0555, a mount point for
  /// another file system), or `writable` (mode 0755, a memory directory).
  public func directory(_ name: String, mode: UInt32? = nil, writable: Bool = false) {
    directory(name, mode: mode, writable: writable) { _ in }
  }

  /// A symbolic link to `target`.
  public func symlink(_ name: String, to target: String) {
    add(name, .symlink(Array(target.utf8)))
  }

  /// A character device node for `dev` (serve it by registering a `Cdev`
  /// for that number).
  public func charDevice(_ name: String, _ dev: DevT, mode: UInt32 = 0o666) {
    add(name, .device(.characterDevice, dev, mode: mode))
  }

  /// An inode of your own, made by `make` in the mount's superblock.
  public func node(
    _ name: String, make: @escaping @Sendable (SuperBlock, Cred) throws(Errno) -> Inode
  ) {
    add(name, .custom(make))
  }

  private func add(_ name: String, _ node: Node) {
    declaration.entries.append((name, node))
  }

  // MARK: Making the inodes

  /// Makes the directory `decl` and, below it, everything it declares.
  static func make(_ decl: Declaration, in sb: SuperBlock, cred: Cred) throws(Errno) -> Inode {
    let dir =
      decl.writable
      ? try MemoryDirectory.inode(in: sb, mode: decl.mode, cred: cred)
      : try StaticDirectory.inode(in: sb, mode: decl.mode, cred: cred)
    for (name, node) in decl.entries {
      let fileName = try FileName.validated(Array(name.utf8))
      let child: Inode
      switch node {
      case .file(let file, let mode):
        child = try file.inode(in: sb, mode: mode, cred: cred)
      case .memoryFile(let bytes, let mode):
        child = try MemoryFile.inode(in: sb, contents: bytes, mode: mode, cred: cred)
      case .directory(let sub):
        child = try make(sub, in: sb, cred: cred)
      case .symlink(let target):
        guard !target.isEmpty, target.count < 4096, !target.contains(0) else { throw .EINVAL }
        child = try Memfs.newInode(sb, mode: FileType.symlink.rawValue | 0o777, cred: cred)
        child.privateData = SymlinkTarget(target)
        child.size = Int64(target.count)
      case .device(let type, let dev, let mode):
        child = try Memfs.newInode(
          sb, mode: type.rawValue | mode & ModeBits.permissions, cred: cred, rdev: dev)
      case .custom(let make):
        child = try make(sb, cred)
        guard child.sb === sb else { throw .EXDEV }
      }
      if decl.writable {
        try MemoryDirectory.add(child, named: fileName, to: dir)
      } else {
        try StaticDirectory.add(child, named: fileName, to: dir)
      }
    }
    return dir
  }
}
