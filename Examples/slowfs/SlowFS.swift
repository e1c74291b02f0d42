import SwiftVFS
import Synchronization

/// A file system with real latency, as a network or remote-API backend has:
/// reading `slow` waits `delay` in the backend (a `Task.sleep`, so no thread
/// waits), while `stat` of anything and reading `fast` answer at once. The
/// operations are async (`AsyncInodeOperations`, `AsyncFileOperations`), so
/// the bridge serves each request in a Task and keeps reading others.
///
/// Files:
/// - `slow`, `fast`: their own names and a newline;
/// - `cancellations`: how many slow reads were cancelled (the caller was
///   interrupted by a signal), `inflight`: how many are waiting now;
/// - `version`: "version N" N times, and `name-N`: a file whose name follows
///   the version. Both change on their own when something is written to
///   `bump`, and the kernel, which caches them for an hour, is told with
///   `vfs.invalidate` (unless the write says `quiet`).
final class SlowFS: FileSystemType {
  let name = "slowfs"
  let backend: SlowBackend

  init(backend: SlowBackend) { self.backend = backend }

  func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(fsType: self, ops: SlowSuper(), context: context, magic: 0x534c_4f57)
    let directory = SlowDirectory(backend: backend)
    let root = try sb.newInode(
      mode: FileType.directory.rawValue | 0o755, cred: context.cred, ops: directory,
      fileOps: directory)
    var files: [SlowFile.Kind: Inode] = [:]
    for kind in SlowFile.Kind.allCases {
      let mode: UInt32 = kind == .bump ? 0o200 : 0o444
      let file = SlowFile(kind: kind, backend: backend)
      let inode = try sb.newInode(
        mode: FileType.regular.rawValue | mode, cred: context.cred, ops: file, fileOps: file)
      // The kernel reads a cached file up to its size (generated ones use direct I/O).
      inode.size = Int64(kind.fixedText?.count ?? 0)
      files[kind] = inode
    }
    backend.install(root: root, files: files)
    sb.setRoot(root)
    return sb
  }
}

struct SlowSuper: SuperOperations {}

/// The backend's state: what a remote service would hold.
final class SlowBackend: Sendable {
  let delay: Duration
  let vfs: VFS
  private struct State {
    var version = 1
    var cancellations = 0
    var inflight = 0
    var root: Inode?
    var files: [SlowFile.Kind: Inode] = [:]
  }
  private let state = Mutex(State())

  init(vfs: VFS, delay: Duration) {
    self.vfs = vfs
    self.delay = delay
  }

  func install(root: Inode, files: [SlowFile.Kind: Inode]) {
    state.withLock {
      $0.root = root
      $0.files = files
    }
    setVersionSize()
  }

  /// The names in the root, in listing order, with their inodes.
  func entries() -> [(FileName, Inode)] {
    state.withLock { s in
      SlowFile.Kind.allCases.compactMap { kind in
        guard let inode = s.files[kind],
          let name = try? FileName(kind.name(version: s.version))
        else { return nil }
        return (name, inode)
      }
    }
  }

  func lookup(_ name: FileName) -> Inode? {
    entries().first { $0.0 == name }?.1
  }

  func versionText() -> [UInt8] {
    let v = state.withLock { $0.version }
    return Array(String(repeating: "version \(v)\n", count: v).utf8)
  }

  private func setVersionSize() {
    guard let inode = state.withLock({ $0.files[.version] }) else { return }
    let size = Int64(versionText().count)
    inode.lock.withLock {
      inode.size = size
      inode.touchModified()
    }
  }

  var counts: (cancellations: Int, inflight: Int) {
    state.withLock { ($0.cancellations, $0.inflight) }
  }

  /// The slow read: waits `delay`; a cancelled wait (FUSE_INTERRUPT) is counted.
  func waitSlowly() async throws(Errno) {
    state.withLock { $0.inflight += 1 }
    defer { state.withLock { $0.inflight -= 1 } }
    do {
      try await Task.sleep(for: delay)
    } catch {
      state.withLock { $0.cancellations += 1 }
      throw .EINTR
    }
  }

  /// The content changes on its own: a new version and a new name. Then the
  /// caches above are told, as a file system with a remote backend would on
  /// a change notice (unless `quietly`: the test's proof that they cache).
  func bump(quietly: Bool) {
    let (version, root, versionFile) = state.withLock { s in
      s.version += 1
      return (s.version, s.root, s.files[.version])
    }
    setVersionSize()
    guard !quietly, let root, let versionFile else { return }
    // Every name this file ever had may be cached, positive or negative.
    for v in 1...version {
      guard let name = try? FileName(SlowFile.Kind.name.name(version: v)) else { continue }
      vfs.invalidate(entry: name, in: root)
    }
    vfs.invalidate(inode: versionFile)
  }
}

/// The root directory: lookups and listings answer from the backend at once
/// (async, as a remote one would; the sync ones serve the VFS's own walks).
struct SlowDirectory: AsyncInodeOperations, AsyncFileOperations {
  let backend: SlowBackend

  func lookupAsync(_ dir: Inode, _ name: FileName) async throws(Errno) -> Inode? {
    backend.lookup(name)
  }

  func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
    backend.lookup(name)
  }

  func iterateAsync(_ file: File, from offset: Int64) async throws(Errno) -> [DirEntry] {
    entries(of: file.inode).filter { $0.offset > offset }
  }

  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    for entry in entries(of: file.inode) where entry.offset > offset {
      if !emit(entry) { return }
    }
  }

  /// ".", ".." and the files, each with its position as its cookie.
  private func entries(of dir: Inode) -> [DirEntry] {
    var list = [
      DirEntry(name: ".", ino: dir.ino, type: .directory, offset: 1, inode: nil),
      DirEntry(name: "..", ino: dir.ino, type: .directory, offset: 2, inode: nil),
    ]
    for (i, (name, inode)) in backend.entries().enumerated() {
      list.append(
        DirEntry(name: name, ino: inode.ino, type: .regular, offset: Int64(i + 3), inode: inode))
    }
    return list
  }
}

/// One file; what it holds depends on its kind.
struct SlowFile: AsyncInodeOperations, AsyncFileOperations {
  enum Kind: CaseIterable, Sendable {
    case slow, fast, cancellations, inflight, version, name, bump

    func name(version: Int) -> String {
      switch self {
      case .slow: "slow"
      case .fast: "fast"
      case .cancellations: "cancellations"
      case .inflight: "inflight"
      case .version: "version"
      case .name: "name-\(version)"
      case .bump: "bump"
      }
    }

    /// The content of the files that never change.
    var fixedText: [UInt8]? {
      switch self {
      case .slow: Array("slow\n".utf8)
      case .fast: Array("fast\n".utf8)
      case .name: Array("name\n".utf8)
      default: nil
      }
    }
  }

  let kind: Kind
  let backend: SlowBackend

  /// Attributes come from the inode at once (a remote stat would await here).
  func getattrAsync(_ inode: Inode) async throws(Errno) -> Stat {
    Simple.getattr(inode)
  }

  /// `echo go > bump` truncates `bump` first: a control file has no size to change.
  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    var change = attr
    if kind == .bump { change.size = nil }
    try Simple.setattr(inode, change)
  }

  func open(_ inode: Inode, _ file: File) throws(Errno) {
    switch kind {
    // Generated on each read, and `slow` must reach us on each read so that
    // a signal can interrupt it (the kernel's readahead cannot be).
    case .slow, .cancellations, .inflight, .bump: file.directIO = true
    // Kept in the kernel's page cache until the backend invalidates it.
    case .version, .fast, .name: file.keepCache = true
    }
  }

  func readAsync(_ file: File, count: Int, at offset: Int64) async throws(Errno) -> [UInt8] {
    let bytes: [UInt8]
    switch kind {
    case .slow:
      // The backend waits for the data, not for the end of it.
      if offset < kind.fixedText!.count { try await backend.waitSlowly() }
      bytes = kind.fixedText!
    case .fast: bytes = kind.fixedText!
    case .cancellations: bytes = Array("\(backend.counts.cancellations)\n".utf8)
    case .inflight: bytes = Array("\(backend.counts.inflight)\n".utf8)
    case .version: bytes = backend.versionText()
    case .name: bytes = kind.fixedText!
    case .bump: throw .EINVAL
    }
    guard offset < bytes.count else { return [] }
    return Array(bytes[Int(offset)..<min(bytes.count, Int(offset) + count)])
  }

  func writeAsync(_ file: File, _ bytes: [UInt8], at offset: Int64) async throws(Errno) -> Int {
    guard kind == .bump else { throw .EINVAL }
    backend.bump(quietly: bytes.starts(with: Array("quiet".utf8)))
    return bytes.count
  }
}
