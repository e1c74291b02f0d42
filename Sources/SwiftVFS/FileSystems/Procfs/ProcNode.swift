import SwiftVFSCore

/// One entry of the proc tree, like `struct proc_dir_entry` (fs/proc/generic.c)
/// and, for the writable ones, a `struct ctl_table` entry (fs/proc/proc_sysctl.c):
/// a name, a mode, and what the entry shows or takes.
///
/// The tree is built once, when the superblock is mounted, and never changes:
/// every node gets an inode at mount that lives as long as the superblock, so
/// lookups are a walk of `children` and no lock is needed.
final class ProcNode: @unchecked Sendable {
  /// What an entry is.
  enum Content: Sendable {
    case directory
    /// A read-only file: its text, made when the file is opened.
    case text(@Sendable () -> String)
    /// A writable control (a sysctl): its text if readable, and what a write
    /// of the text does (EINVAL for anything it does not take).
    case control(read: (@Sendable () -> String)?, write: @Sendable (String) throws(Errno) -> Void)
    /// The request trace: a stream, not a snapshot.
    case trace
  }

  let name: FileName
  /// Permission bits (the type comes from `content`).
  let permissions: UInt32
  let content: Content
  /// Directories' entries, in the order readdir shows them; set at mount.
  private(set) var children: [(name: FileName, inode: Inode)] = []

  init(_ name: FileName, _ permissions: UInt32, _ content: Content) {
    self.name = name
    self.permissions = permissions
    self.content = content
  }

  var isDirectory: Bool {
    if case .directory = content { return true }
    return false
  }

  var mode: UInt32 {
    (isDirectory ? FileType.directory.rawValue : FileType.regular.rawValue) | permissions
  }

  func add(_ name: FileName, _ inode: Inode) { children.append((name, inode)) }

  func child(_ name: FileName) -> Inode? { children.first { $0.name == name }?.inode }

  static func of(_ inode: Inode) -> ProcNode {
    unsafeDowncast(inode.privateData!, to: ProcNode.self)
  }
}

/// The shape of the tree to build: a node and the nodes under it.
struct ProcTreeSpec: Sendable {
  let node: ProcNode
  let children: [ProcTreeSpec]

  static func dir(_ name: FileName, _ children: [ProcTreeSpec]) -> ProcTreeSpec {
    ProcTreeSpec(node: ProcNode(name, 0o555, .directory), children: children)
  }

  static func file(_ name: FileName, _ text: @escaping @Sendable () -> String) -> ProcTreeSpec {
    ProcTreeSpec(node: ProcNode(name, 0o444, .text(text)), children: [])
  }

  /// A sysctl-style control: 0644 if it can be read, 0200 if write-only.
  static func control(
    _ name: FileName, read: (@Sendable () -> String)?,
    write: @escaping @Sendable (String) throws(Errno) -> Void
  ) -> ProcTreeSpec {
    ProcTreeSpec(
      node: ProcNode(name, read == nil ? 0o200 : 0o644, .control(read: read, write: write)),
      children: [])
  }

  static func trace(_ name: FileName) -> ProcTreeSpec {
    ProcTreeSpec(node: ProcNode(name, 0o444, .trace), children: [])
  }
}
