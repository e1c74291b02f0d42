import SwiftVFS

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// The reference model for the differential fuzz test: a tree of plain
/// dictionaries, file data as a byte array, and each operation written out
/// in the order of checks the VFS documents (namei.c's), so that a reader
/// can check it against the man pages line by line. No pages, no caches,
/// no locks, no counts kept: nlink is counted from the tree when asked.
final class RefNode {
  enum Kind: String { case file, dir, symlink }
  let id: Int
  let kind: Kind
  /// File contents, or a symlink's target.
  var data: [UInt8] = []
  /// A directory's entries.
  var entries: [String: RefNode] = [:]
  var xattrs: [String: [UInt8]] = [:]

  init(id: Int, kind: Kind) {
    self.id = id
    self.kind = kind
  }

  var isDir: Bool { kind == .dir }

  /// Whether `other` is this node or lies below it.
  func contains(_ other: RefNode) -> Bool {
    if self === other { return true }
    return entries.values.contains { $0.isDir && $0.contains(other) }
  }
}

struct RefModel {
  let root = RefNode(id: 0, kind: .dir)
  private var nextID = 1

  mutating func make(_ kind: RefNode.Kind) -> RefNode {
    defer { nextID += 1 }
    return RefNode(id: nextID, kind: kind)
  }

  /// Path walk: ENOTDIR through a non-directory, ENOENT for a missing name.
  func resolve(_ path: [String]) -> Result<RefNode, Errno> {
    var cur = root
    for name in path {
      guard cur.isDir else { return .failure(.ENOTDIR) }
      guard let next = cur.entries[name] else { return .failure(.ENOENT) }
      cur = next
    }
    return .success(cur)
  }

  /// Every node with the paths that reach it (hard links give several).
  func allPaths() -> [(path: [String], node: RefNode)] {
    var out: [([String], RefNode)] = [([], root)]
    var i = 0
    while i < out.count {
      let (path, node) = out[i]
      for name in node.entries.keys.sorted() { out.append((path + [name], node.entries[name]!)) }
      i += 1
    }
    return out
  }

  /// nlink as POSIX defines it: names of a file; 2 plus subdirectories for a directory.
  func nlinks() -> [ObjectIdentifier: Int] {
    var counts: [ObjectIdentifier: Int] = [:]
    for (_, node) in allPaths() where node.isDir {
      counts[ObjectIdentifier(node)] = 2 + node.entries.values.filter(\.isDir).count
      for child in node.entries.values where !child.isDir {
        counts[ObjectIdentifier(child), default: 0] += 1
      }
    }
    return counts
  }

  // MARK: - Operations: each returns nil (success) or the errno

  mutating func create(_ dir: RefNode, _ name: String, exclusive: Bool, truncate: Bool) -> Errno? {
    guard dir.isDir else { return .ENOTDIR }
    if let existing = dir.entries[name] {
      if exclusive { return .EEXIST }
      switch existing.kind {
      case .dir: return .EISDIR
      case .symlink: return .ELOOP
      case .file:
        if truncate { existing.data = [] }
        return nil
      }
    }
    dir.entries[name] = make(.file)
    return nil
  }

  mutating func mkdir(_ dir: RefNode, _ name: String) -> Errno? {
    guard dir.isDir else { return .ENOTDIR }
    guard dir.entries[name] == nil else { return .EEXIST }
    dir.entries[name] = make(.dir)
    return nil
  }

  mutating func symlink(_ dir: RefNode, _ name: String, _ target: [UInt8]) -> Errno? {
    guard dir.isDir else { return .ENOTDIR }
    guard dir.entries[name] == nil else { return .EEXIST }
    let node = make(.symlink)
    node.data = target
    dir.entries[name] = node
    return nil
  }

  /// open(2) for writing: a directory is EISDIR, a symlink (O_NOFOLLOW) ELOOP.
  func openForWrite(_ node: RefNode) -> Errno? {
    switch node.kind {
    case .dir: return .EISDIR
    case .symlink: return .ELOOP
    case .file: return nil
    }
  }

  func write(_ node: RefNode, _ bytes: [UInt8], at offset: Int, append: Bool) -> Result<Int, Errno>
  {
    if let e = openForWrite(node) { return .failure(e) }
    let start = append ? node.data.count : offset
    if bytes.isEmpty { return .success(0) }
    if node.data.count < start + bytes.count {
      node.data += [UInt8](repeating: 0, count: start + bytes.count - node.data.count)
    }
    node.data.replaceSubrange(start..<(start + bytes.count), with: bytes)
    return .success(bytes.count)
  }

  func truncate(_ node: RefNode, _ size: Int) -> Errno? {
    switch node.kind {
    case .dir: return .EISDIR
    case .symlink: return .EINVAL
    case .file:
      if size < node.data.count {
        node.data.removeSubrange(size...)
      } else {
        node.data += [UInt8](repeating: 0, count: size - node.data.count)
      }
      return nil
    }
  }

  /// fallocate: mode 0 extends the size; PUNCH_HOLE|KEEP_SIZE zeroes inside the size.
  func fallocate(_ node: RefNode, punch: Bool, offset: Int, length: Int) -> Errno? {
    if let e = openForWrite(node) { return e }
    if punch {
      let end = min(offset + length, node.data.count)
      if offset < end {
        node.data.replaceSubrange(offset..<end, with: [UInt8](repeating: 0, count: end - offset))
      }
    } else if node.data.count < offset + length {
      node.data += [UInt8](repeating: 0, count: offset + length - node.data.count)
    }
    return nil
  }

  func link(_ node: RefNode, _ dir: RefNode, _ name: String) -> Errno? {
    guard !node.isDir else { return .EPERM }
    guard dir.isDir else { return .ENOTDIR }
    guard dir.entries[name] == nil else { return .EEXIST }
    dir.entries[name] = node
    return nil
  }

  func unlink(_ dir: RefNode, _ name: String) -> Errno? {
    guard dir.isDir else { return .ENOTDIR }
    guard let victim = dir.entries[name] else { return .ENOENT }
    guard !victim.isDir else { return .EISDIR }
    dir.entries[name] = nil
    return nil
  }

  func rmdir(_ dir: RefNode, _ name: String) -> Errno? {
    guard dir.isDir else { return .ENOTDIR }
    guard let victim = dir.entries[name] else { return .ENOENT }
    guard victim.isDir else { return .ENOTDIR }
    guard victim.entries.isEmpty else { return .ENOTEMPTY }
    dir.entries[name] = nil
    return nil
  }

  func rename(
    _ oldDir: RefNode, _ oldName: String, _ newDir: RefNode, _ newName: String,
    flags: RenameFlags
  ) -> Errno? {
    if flags.contains([.noReplace, .exchange]) { return .EINVAL }
    guard oldDir.isDir, newDir.isDir else { return .ENOTDIR }
    guard let source = oldDir.entries[oldName] else { return .ENOENT }
    let target = newDir.entries[newName]
    if flags.contains(.exchange), target == nil { return .ENOENT }
    if flags.contains(.noReplace), target != nil { return .EEXIST }
    if source === target { return nil }
    if source.isDir, source.contains(newDir) { return .EINVAL }
    // The target may not be an ancestor of the source (do_renameat2's trap),
    // checked before the file types, so a file onto its own parent is ENOTEMPTY.
    if let target, !flags.contains(.exchange), target.isDir, target.contains(oldDir) {
      return .ENOTEMPTY
    }
    if let target {
      if flags.contains(.exchange) {
        if target.isDir, target.contains(oldDir) { return .EINVAL }
      } else if source.isDir, !target.isDir {
        return .ENOTDIR
      } else if !source.isDir, target.isDir {
        return .EISDIR
      } else if target.isDir, !target.entries.isEmpty {
        return .ENOTEMPTY
      }
    }
    if flags.contains(.exchange), let target {
      oldDir.entries[oldName] = target
      newDir.entries[newName] = source
    } else {
      oldDir.entries[oldName] = nil
      newDir.entries[newName] = source
    }
    return nil
  }

  /// user.* lives only on files and directories: EPERM to change it elsewhere.
  func setxattr(_ node: RefNode, _ name: String, _ value: [UInt8], flags: XattrFlags) -> Errno? {
    if name.hasPrefix("user."), node.kind == .symlink { return .EPERM }
    let old = node.xattrs[name]
    if flags.contains(.create), old != nil { return .EEXIST }
    if flags.contains(.replace), old == nil { return .ENODATA }
    node.xattrs[name] = value
    return nil
  }

  func removexattr(_ node: RefNode, _ name: String) -> Errno? {
    if name.hasPrefix("user."), node.kind == .symlink { return .EPERM }
    guard node.xattrs.removeValue(forKey: name) != nil else { return .ENODATA }
    return nil
  }
}
