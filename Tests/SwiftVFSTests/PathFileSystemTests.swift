import SwiftVFS
import Synchronization
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// A value behind the VFS's pthread `Lock` (which ThreadSanitizer sees;
/// Synchronization's `Mutex` uses futexes it does not).
final class Locked<Value>: @unchecked Sendable {
  private let lock = Lock()
  private var value: Value
  init(_ value: Value) { self.value = value }
  func withLock<T, E: Error>(_ body: (inout Value) throws(E) -> T) throws(E) -> T {
    try lock.withLock { () throws(E) -> T in try body(&value) }
  }
}

/// A path file system kept in a dictionary: what a user of the high-level
/// API writes (paths in, errnos out), with the calls it got recorded.
final class DictionaryFS: PathFileSystem {
  enum Node: Equatable {
    case directory
    case file([UInt8])
  }
  let state = Locked<[String: Node]>(["/": .directory])
  let calls = Locked<[String]>([])

  func parent(_ path: String) -> String {
    let up = path.split(separator: "/").dropLast().joined(separator: "/")
    return "/" + up
  }

  func getattr(_ path: String) throws(Errno) -> PathAttributes {
    calls.withLock { $0.append("getattr \(path)") }
    switch state.withLock({ $0[path] }) {
    case .directory?:
      // 2 + one for each subdirectory's "..", as a kernel directory counts.
      let subdirs = state.withLock { s in
        s.filter { $0.key != "/" && $0.value == .directory && parent($0.key) == path }.count
      }
      var attrs = PathAttributes.directory()
      attrs.nlink = UInt32(2 + subdirs)
      return attrs
    case .file(let bytes)?: return .file(size: Int64(bytes.count))
    case nil: throw .ENOENT
    }
  }

  func readdir(_ path: String) throws(Errno) -> [PathDirectoryEntry] {
    try state.withLock { s throws(Errno) in
      guard s[path] == .directory else { throw .ENOTDIR }
      return s.keys.filter { $0 != "/" && parent($0) == path }.sorted().map {
        PathDirectoryEntry(
          String($0.split(separator: "/").last!), type: s[$0] == .directory ? .directory : .regular)
      }
    }
  }

  func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard case .file(let bytes)? = state.withLock({ $0[path] }) else { throw .EISDIR }
    return ReadOnlyFile.copy(bytes, into: buffer, at: offset)
  }

  func write(_ path: String, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    try state.withLock { s throws(Errno) in
      guard case .file(var bytes)? = s[path] else { throw .EISDIR }
      let end = Int(offset) + buffer.count
      if bytes.count < end { bytes += [UInt8](repeating: 0, count: end - bytes.count) }
      bytes.replaceSubrange(Int(offset)..<end, with: buffer)
      s[path] = .file(bytes)
      return buffer.count
    }
  }

  func create(_ path: String, mode: UInt32, cred: Cred) throws(Errno) {
    state.withLock { $0[path] = .file([]) }
  }

  func mkdir(_ path: String, mode: UInt32, cred: Cred) throws(Errno) {
    state.withLock { $0[path] = .directory }
  }

  func unlink(_ path: String) throws(Errno) {
    state.withLock { _ = $0.removeValue(forKey: path) }
  }

  func rmdir(_ path: String) throws(Errno) {
    try state.withLock { s throws(Errno) in
      if s.keys.contains(where: { $0.hasPrefix(path + "/") }) { throw .ENOTEMPTY }
      s[path] = nil
    }
  }

  func rename(_ from: String, _ to: String, flags: RenameFlags) throws(Errno) {
    calls.withLock { $0.append("rename \(from) \(to)") }
    state.withLock { s in
      func take(_ root: String) -> [(String, Node)] {
        let moving = s.filter { $0.key == root || $0.key.hasPrefix(root + "/") }
        for key in moving.keys { s[key] = nil }
        return moving.map { ($0.key, $0.value) }
      }
      let a = take(from)
      let b = flags.contains(.exchange) ? take(to) : []
      if !flags.contains(.exchange) { _ = take(to) }
      for (k, v) in a { s[to + k.dropFirst(from.count)] = v }
      for (k, v) in b { s[from + k.dropFirst(to.count)] = v }
    }
  }

  func truncate(_ path: String, size: Int64) throws(Errno) {
    try state.withLock { s throws(Errno) in
      guard case .file(var bytes)? = s[path] else { throw .EISDIR }
      bytes =
        Array(bytes.prefix(Int(size)))
        + [UInt8](repeating: 0, count: max(0, Int(size) - bytes.count))
      s[path] = .file(bytes)
    }
  }
}

/// Only getattr and read: every other operation is the protocol's default.
struct HelloPathFS: PathFileSystem {
  func getattr(_ path: String) throws(Errno) -> PathAttributes {
    switch path {
    case "/": return .directory(0o555)
    case "/hello": return .file(size: 6, 0o444)
    default: throw .ENOENT
    }
  }
  func readdir(_ path: String) throws(Errno) -> [PathDirectoryEntry] {
    guard path == "/" else { throw .ENOTDIR }
    return [PathDirectoryEntry("hello", type: .regular)]
  }
  func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { ReadOnlyFile.copy(Array("hello\n".utf8), into: buffer, at: offset) }
}

final class PathFileSystemTests: XCTestCase {
  var fs: DictionaryFS!
  var h: LibraryHarness!

  override func setUpWithError() throws {
    fs = DictionaryFS()
    h = try LibraryHarness(PathFileSystemType(name: "dictfs", fs))
  }

  func testLookupsListingsAndData() throws {
    try h.mkdir("a")
    try h.mkdir("a/b")
    try h.create("a/b/f", "hello")
    try h.create("top")
    XCTAssertEqual(fs.state.withLock { $0["/a/b/f"] }, .file(Array("hello".utf8)))
    XCTAssertEqual(try h.read("a/b/f"), "hello")
    XCTAssertEqual(try h.stat("a/b/f").size, 5)
    XCTAssertEqual(try h.stat("a/b/f").mode, FileType.regular.rawValue | 0o644)
    // One inode per path: the same number each time, and for the listing.
    let ino = try h.walk("a/b/f").ino
    XCTAssertEqual(try h.walk("a/b/f").ino, ino)
    let listing = try h.list("a/b")
    XCTAssertEqual(listing.map(\.0), [".", "..", "f"])
    XCTAssertEqual(listing[0].1, try h.walk("a/b").ino)
    XCTAssertEqual(listing[1].1, try h.walk("a").ino, "\"..\" is the parent")
    XCTAssertEqual(listing[2].1, ino)
    XCTAssertEqual(try h.names("/"), [".", "..", "a", "top"])
    XCTAssertEqual(try h.list("/", from: 3).map(\.0), ["top"], "cookies resume a listing")
    XCTAssertEqual(try h.walk("a/b/..").ino, try h.walk("a").ino)
    // Append goes to the end the file system reports; truncate reaches it.
    try h.write("a/b/f", " world", flags: Int32(O_WRONLY | O_APPEND))
    XCTAssertEqual(try h.read("a/b/f"), "hello world")
    try h.setattr("a/b/f", SetAttr(size: 4))
    XCTAssertEqual(try h.read("a/b/f"), "hell")
    XCTAssertEqual(vtErrno { _ = try h.walk("a/nothing") }, .ENOENT)
    XCTAssertEqual(vtErrno { try h.rmdir("a") }, .ENOTEMPTY)
    try h.unlink("a/b/f")
    XCTAssertEqual(vtErrno { _ = try h.walk("a/b/f") }, .ENOENT)
    try h.rmdir("a/b")
    XCTAssertEqual(try h.names("a"), [".", ".."])
    assertConsistent(h.vfs)
  }

  func testRenamingADirectoryMovesThePathsBelowIt() throws {
    try h.mkdir("src")
    try h.mkdir("src/deep")
    try h.create("src/deep/file", "data")
    try h.mkdir("dst")
    let dirIno = try h.walk("src/deep").ino
    let fileInode = try h.walk("src/deep/file")  // its inode is known under the old path
    try h.rename("src", "dst/moved")
    XCTAssertEqual(
      fs.calls.withLock { $0.filter { $0.hasPrefix("rename") } }, ["rename /src /dst/moved"])
    XCTAssertEqual(vtErrno { _ = try h.walk("src") }, .ENOENT)
    XCTAssertEqual(try h.walk("dst/moved/deep").ino, dirIno)
    XCTAssertTrue(try h.walk("dst/moved/deep/file") === fileInode)
    // The inode met before the rename now reads and stats by its new path.
    let (fh, file) = try h.vfs.open(fileInode, flags: Int32(O_RDONLY), cred: .root)
    defer { h.vfs.release(fh) }
    var buffer = [UInt8](repeating: 0, count: 16)
    let n = try buffer.withUnsafeMutableBytes { try h.vfs.read(file, into: $0, at: 0) }
    XCTAssertEqual(String(decoding: buffer[0..<n], as: UTF8.self), "data")
    fs.calls.withLock { $0.removeAll() }
    _ = try h.vfs.getattr(fileInode)
    XCTAssertEqual(fs.calls.withLock { $0 }, ["getattr /dst/moved/deep/file"])
    XCTAssertEqual(try h.list("dst/moved/deep")[1].1, try h.walk("dst/moved").ino)
    // A rename over a file replaces it; an exchange swaps two subtrees.
    try h.create("dst/other", "other")
    try h.rename("dst/moved/deep/file", "dst/other")
    XCTAssertEqual(try h.read("dst/other"), "data")
    try h.mkdir("x")
    try h.create("x/inx", "in x")
    try h.rename("x", "dst/moved", flags: .exchange)
    XCTAssertEqual(try h.read("dst/moved/inx"), "in x")
    XCTAssertEqual(try h.names("x"), [".", "..", "deep"])
    XCTAssertEqual(try h.walk("x/deep").ino, dirIno)
    XCTAssertEqual(vtErrno { try h.rename("x", "x/deep/loop") }, .EINVAL)
    assertConsistent(h.vfs)
  }

  func testDefaultsAnswerAsTheKernel() throws {
    let h = try LibraryHarness(PathFileSystemType(name: "hello", HelloPathFS()))
    XCTAssertEqual(try h.names("/"), [".", "..", "hello"])
    XCTAssertEqual(try h.read("hello"), "hello\n")
    XCTAssertEqual(vtErrno { try h.create("new") }, .EACCES)
    XCTAssertEqual(vtErrno { try h.mkdir("d") }, .EPERM)
    XCTAssertEqual(vtErrno { try h.unlink("hello") }, .EPERM)
    XCTAssertEqual(vtErrno { try h.rename("hello", "bye") }, .EPERM)
    XCTAssertEqual(vtErrno { try h.write("hello", "x") }, .EINVAL)
    XCTAssertEqual(vtErrno { try h.setattr("hello", SetAttr(mode: 0o666)) }, .EPERM)
    XCTAssertEqual(vtErrno { try h.setattr("hello", SetAttr(size: 0)) }, .EPERM)
    XCTAssertNil(vtErrno { try h.setattr("hello", SetAttr(mtime: .now)) })
    XCTAssertEqual(try h.stat("hello").mode, FileType.regular.rawValue | 0o444)
    // A root that is not a directory fails the mount.
    struct FileRoot: PathFileSystem {
      func getattr(_ path: String) throws(Errno) -> PathAttributes { .file(size: 0) }
    }
    XCTAssertEqual(
      vtErrno { _ = try LibraryHarness(PathFileSystemType(name: "f", FileRoot())) }, .ENOTDIR)
  }
}

final class LibraryConcurrencyTests: XCTestCase {
  /// Lookups, listings, reads and directory renames at once on a path file
  /// system and a tree: each thread's results stay whole, nothing crashes,
  /// and the checker finds the trees consistent after (run under TSan too).
  func testConcurrentLookupsListingsAndRenames() throws {
    let fs = DictionaryFS()
    let h = try LibraryHarness(PathFileSystemType(name: "dictfs", fs))
    for d in 0..<4 {
      try h.mkdir("d\(d)")
      for f in 0..<8 { try h.create("d\(d)/f\(f)", "file \(f)") }
    }
    let tree = try LibraryHarness(
      TreeFileSystem(name: "t") { root in
        for i in 0..<16 { root.file("r\(i)", "read-only \(i)") }
        root.directory("w", writable: true)
      })
    let failures = Mutex<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 8) { worker in
      for round in 0..<300 {
        do {
          switch worker == 4 ? 5 : worker % 4 {
          case 5:
            // Lists the root and the renamed directory under either name.
            let names = try h.names("/")
            let d0 = names.contains("d0") ? "d0" : "moved"
            if let inner = try? h.names(d0), inner.count != 10 {
              failures.withLock { $0.append("\(d0) listed \(inner)") }
            }
          case 0:
            // Renames a directory back and forth.
            let (a, b) = round % 2 == 0 ? ("d0", "moved") : ("moved", "d0")
            try h.rename(a, b)
          case 1:
            let names = try h.names("d1")
            if names.count != 10 { failures.withLock { $0.append("d1 listed \(names)") } }
          case 2:
            let text = try h.read("d2/f\(round % 8)")
            if text != "file \(round % 8)" { failures.withLock { $0.append("read \(text)") } }
            _ = try tree.read("r\(round % 16)")
          default:
            _ = try tree.names("/")
            try tree.create("w/n\(worker)-\(round)")
            try tree.unlink("w/n\(worker)-\(round)")
          }
        } catch {
          failures.withLock { $0.append("worker \(worker) round \(round): \(error)") }
        }
      }
    }
    XCTAssertEqual(failures.withLock { $0 }, [])
    XCTAssertEqual(try h.names("d0").count, 10, "300 renames: back where it started")
    XCTAssertEqual(try h.read("d0/f3"), "file 3")
    assertConsistent(h.vfs)
    assertConsistent(tree.vfs)
  }
}
