import Foundation
import SwiftVFS
import Synchronization
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// A VFS with one file system type mounted at `/`, and helpers that call the
/// `VFS` facade as the bridge does, leaving no lookup or open count behind.
final class LibraryHarness: @unchecked Sendable {
  let vfs = VFS()

  init(_ type: FileSystemType, options: String = "") throws {
    try vfs.filesystems.register(type)
    try vfs.mount(
      type.name, at: "/", options: options.isEmpty ? MountOptions() : MountOptions(parsing: options)
    )
  }

  var root: Inode { vfs.root }

  func walk(_ path: String) throws -> Inode {
    var cur = vfs.root
    for part in path.split(separator: "/") {
      cur = try vfs.resolveUnlocked(cur, FileName(String(part)))
    }
    return cur
  }

  func read(_ path: String, flags: Int32 = Int32(O_RDONLY)) throws -> String {
    let (fh, file) = try vfs.open(walk(path), flags: flags, cred: .root)
    defer { vfs.release(fh) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 7)  // small: reads in pieces
    while true {
      let n = try buffer.withUnsafeMutableBytes {
        try vfs.read(file, into: $0, at: Int64(out.count))
      }
      if n == 0 { break }
      out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
  }

  @discardableResult
  func write(_ path: String, _ text: String, at offset: Int64 = 0, flags: Int32 = Int32(O_WRONLY))
    throws -> Int
  {
    let (fh, file) = try vfs.open(walk(path), flags: flags, cred: .root)
    defer { vfs.release(fh) }
    return try Array(text.utf8).withUnsafeBytes { try vfs.write(file, from: $0, at: offset) }
  }

  func create(_ path: String, _ text: String = "") throws {
    let parts = path.split(separator: "/")
    let dir = try walk(parts.dropLast().joined(separator: "/"))
    let (inode, fh, file) = try vfs.create(
      dir, FileName(String(parts.last!)), mode: 0o644, flags: Int32(O_RDWR) | OpenFlags.create,
      cred: .root)
    defer {
      vfs.release(fh)
      vfs.forget(inode.ino, count: 1)
    }
    _ = try Array(text.utf8).withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
  }

  /// The whole listing: (name, ino, cookie), "." and ".." included.
  func list(_ path: String, from offset: Int64 = 0, max: Int = .max) throws -> [(
    String, UInt64, Int64
  )] {
    let (fh, file) = try vfs.open(walk(path), flags: Int32(O_RDONLY), cred: .root)
    defer { vfs.release(fh) }
    var out: [(String, UInt64, Int64)] = []
    try vfs.readdir(file, from: offset) { entry in
      guard out.count < max else { return false }
      out.append((entry.name.description, entry.ino, entry.offset))
      return true
    }
    return out
  }

  func names(_ path: String) throws -> [String] { try list(path).map(\.0) }

  func stat(_ path: String) throws -> Stat { try vfs.getattr(walk(path)) }

  func setattr(_ path: String, _ attr: SetAttr) throws {
    _ = try vfs.setattr(walk(path), attr, cred: .root)
  }

  func dirAndName(_ path: String) throws -> (Inode, FileName) {
    let parts = path.split(separator: "/")
    return (try walk(parts.dropLast().joined(separator: "/")), try FileName(String(parts.last!)))
  }

  func mkdir(_ path: String) throws {
    let (dir, name) = try dirAndName(path)
    let inode = try vfs.mkdir(dir, name, mode: 0o755, cred: .root)
    vfs.forget(inode.ino, count: 1)
  }

  func unlink(_ path: String) throws {
    let (dir, name) = try dirAndName(path)
    try vfs.unlink(dir, name)
  }

  func rmdir(_ path: String) throws {
    let (dir, name) = try dirAndName(path)
    try vfs.rmdir(dir, name)
  }

  func rename(_ from: String, _ to: String, flags: RenameFlags = []) throws {
    let (d1, n1) = try dirAndName(from)
    let (d2, n2) = try dirAndName(to)
    try vfs.rename(d1, n1, d2, n2, flags: flags)
  }
}

final class ReadOnlyFileTests: XCTestCase {
  func testBytesReadAndTheKernelsAnswersToChanges() throws {
    let h = try LibraryHarness(TreeFileSystem(name: "t") { $0.file("motd", "hello, world\n") })
    XCTAssertEqual(try h.read("motd"), "hello, world\n")
    XCTAssertEqual(try h.stat("motd").size, 13)
    XCTAssertEqual(try h.stat("motd").mode, FileType.regular.rawValue | 0o444)
    // Like kernfs_fop_open(): no writing, not even for root.
    XCTAssertEqual(vtErrno { try h.write("motd", "x") }, .EACCES)
    XCTAssertEqual(vtErrno { try h.write("motd", "x", flags: Int32(O_RDWR | O_APPEND)) }, .EACCES)
    XCTAssertEqual(
      vtErrno { _ = try h.read("motd", flags: Int32(O_RDONLY) | OpenFlags.truncate) }, .EACCES)
    XCTAssertEqual(vtErrno { try h.setattr("motd", SetAttr(size: 0)) }, .EACCES)
    // Like proc_setattr(): mode and owner are fixed; times may be set.
    XCTAssertEqual(vtErrno { try h.setattr("motd", SetAttr(mode: 0o666)) }, .EPERM)
    XCTAssertEqual(vtErrno { try h.setattr("motd", SetAttr(uid: 5)) }, .EPERM)
    XCTAssertNil(vtErrno { try h.setattr("motd", SetAttr(mtime: .to(Timestamp(sec: 77)))) })
    XCTAssertEqual(try h.stat("motd").mtime, Timestamp(sec: 77))
    XCTAssertEqual(try h.read("motd"), "hello, world\n", "nothing changed the content")
    // fsync of a read-only file has nothing to do and succeeds.
    let (fh, file) = try h.vfs.open(h.walk("motd"), flags: Int32(O_RDONLY), cred: .root)
    defer { h.vfs.release(fh) }
    XCTAssertNil(vtErrno { try h.vfs.fsync(file, dataOnly: false) })
    XCTAssertFalse(file.directIO, "fixed bytes may stay in the kernel's cache")
  }

  func testGeneratedContentIsASnapshotPerOpenWithItsSize() throws {
    let counter = Atomic<Int>(0)
    let h = try LibraryHarness(
      TreeFileSystem(name: "t") { root in
        root.file("count") { "count \(counter.add(1, ordering: .relaxed).newValue)\n" }
      })
    let inode = try h.walk("count")
    let (fh1, first) = try h.vfs.open(inode, flags: Int32(O_RDONLY), cred: .root)
    defer { h.vfs.release(fh1) }
    XCTAssertTrue(first.directIO, "generated content is read with direct I/O")
    let (fh2, second) = try h.vfs.open(inode, flags: Int32(O_RDONLY), cred: .root)
    defer { h.vfs.release(fh2) }
    func text(_ file: File) throws -> String {
      var buffer = [UInt8](repeating: 0, count: 64)
      let n = try buffer.withUnsafeMutableBytes { try h.vfs.read(file, into: $0, at: 0) }
      return String(decoding: buffer[0..<n], as: UTF8.self)
    }
    XCTAssertEqual(try text(first), "count 1\n")
    XCTAssertEqual(try text(second), "count 2\n")
    XCTAssertEqual(try text(first), "count 1\n", "an open keeps its snapshot")
    // stat runs the generator for the size: "count 9\n", then "count 10\n".
    for _ in 0..<6 { _ = try h.read("count") }  // opens 3...8
    XCTAssertEqual(try h.stat("count").size, 8)
    XCTAssertEqual(try h.stat("count").size, 9)
  }
}

final class StaticDirectoryTests: XCTestCase {
  func makeTree() throws -> LibraryHarness {
    try LibraryHarness(
      TreeFileSystem(name: "t") { root in
        root.file("b", "B")
        root.directory("sub") { sub in
          sub.file("x", "X")
          sub.file("y", "Y")
        }
        root.file("a", "A")
      })
  }

  func testListingHasDotsEntriesInOrderAndStableCookies() throws {
    let h = try makeTree()
    let all = try h.list("/")
    XCTAssertEqual(all.map(\.0), [".", "..", "b", "sub", "a"])
    XCTAssertEqual(all.map(\.2), [1, 2, 3, 4, 5])
    XCTAssertEqual(all[0].1, h.root.ino)
    // Resuming after any cookie lists the rest once.
    for (i, entry) in all.enumerated() {
      XCTAssertEqual(try h.list("/", from: entry.2).map(\.0), all[(i + 1)...].map(\.0))
    }
    // A listing cut short resumes where it stopped.
    let firstTwo = try h.list("/", max: 2)
    XCTAssertEqual(try h.list("/", from: firstTwo.last!.2).map(\.0), ["b", "sub", "a"])
    // ".." of a subdirectory is its parent; lookups find names, not others.
    let sub = try h.list("sub")
    XCTAssertEqual(sub.map(\.0), [".", "..", "x", "y"])
    XCTAssertEqual(sub[1].1, h.root.ino)
    XCTAssertEqual(try h.walk("sub/..").ino, h.root.ino)
    XCTAssertEqual(try h.read("sub/y"), "Y")
    XCTAssertEqual(vtErrno { _ = try h.walk("sub/z") }, .ENOENT)
    XCTAssertEqual(try h.stat("/").nlink, 3, "2 + one subdirectory")
    XCTAssertEqual(try h.stat("/").mode, FileType.directory.rawValue | 0o555)
  }

  func testChangesAnswerAsTheKernelsEmptySlots() throws {
    let h = try makeTree()
    XCTAssertEqual(vtErrno { try h.create("new") }, .EACCES)  // vfs_create
    XCTAssertEqual(vtErrno { try h.mkdir("d") }, .EPERM)  // vfs_mkdir
    XCTAssertEqual(vtErrno { try h.unlink("a") }, .EPERM)
    XCTAssertEqual(vtErrno { try h.rmdir("sub") }, .EPERM)
    XCTAssertEqual(vtErrno { try h.rename("a", "c") }, .EPERM)
    XCTAssertEqual(vtErrno { try h.setattr("sub", SetAttr(mode: 0o777)) }, .EPERM)
    XCTAssertEqual(try h.names("/"), [".", "..", "b", "sub", "a"])
  }

  func testAddChecksNamesAndDuplicates() throws {
    let h = try makeTree()
    let sb = h.vfs.rootSuperBlock!
    let dir = try StaticDirectory.inode(in: sb)
    let file = try ReadOnlyFile("z").inode(in: sb)
    for bad in ["", ".", "..", "a/b", "nul\0", String(repeating: "n", count: 256)] {
      XCTAssertNotNil(
        vtErrno { try StaticDirectory.add(file, named: FileName(bad), to: dir) }, bad)
    }
    XCTAssertNil(vtErrno { try StaticDirectory.add(file, named: "z", to: dir) })
    XCTAssertEqual(vtErrno { try StaticDirectory.add(file, named: "z", to: dir) }, .EEXIST)
    XCTAssertEqual(vtErrno { try StaticDirectory.add(dir, named: "q", to: file) }, .EINVAL)
    // A bad name in a declared tree fails the mount, loudly.
    XCTAssertEqual(
      vtErrno { _ = try LibraryHarness(TreeFileSystem(name: "bad") { $0.file("a/b", "") }) },
      .EINVAL)
    XCTAssertEqual(
      vtErrno {
        _ = try LibraryHarness(
          TreeFileSystem(name: "dup") {
            $0.file("a", "")
            $0.file("a", "")
          })
      }, .EEXIST)
  }
}

final class MemoryNodesTests: XCTestCase {
  func testMemoryFileAppendsAndTruncatesInAnotherFileSystem() throws {
    let h = try LibraryHarness(TreeFileSystem(name: "t") { $0.memoryFile("notes.txt", "one\n") })
    XCTAssertEqual(try h.read("notes.txt"), "one\n")
    try h.write("notes.txt", "two\n", flags: Int32(O_WRONLY | O_APPEND))
    try h.write("notes.txt", "three\n", flags: Int32(O_WRONLY | O_APPEND))
    XCTAssertEqual(try h.read("notes.txt"), "one\ntwo\nthree\n")
    try h.setattr("notes.txt", SetAttr(size: 4))
    XCTAssertEqual(try h.read("notes.txt"), "one\n")
    try h.write("notes.txt", "new\n", flags: Int32(O_WRONLY) | OpenFlags.truncate)
    XCTAssertEqual(try h.read("notes.txt"), "new\n")
    XCTAssertNil(vtErrno { try h.setattr("notes.txt", SetAttr(mode: 0o600)) })
    XCTAssertEqual(try h.stat("notes.txt").mode, FileType.regular.rawValue | 0o600)
    XCTAssertTrue(MemoryFile.isMemoryFile(try h.walk("notes.txt")))
  }

  func testMemoryDirectoryTakesChangesAndGivesBlocksBack() throws {
    let h = try LibraryHarness(
      TreeFileSystem(name: "t") { root in
        root.file("readme", "read me")
        root.directory("scratch", writable: true) { $0.file("seed", "S") }
      })
    let sb = h.vfs.rootSuperBlock!
    XCTAssertEqual(vtErrno { try h.create("new") }, .EACCES, "the root stays read-only")
    try h.create("scratch/f", String(repeating: "x", count: 10000))
    try h.mkdir("scratch/d")
    try h.rename("scratch/f", "scratch/d/g")
    XCTAssertEqual(try h.read("scratch/d/g").count, 10000)
    XCTAssertEqual(try h.names("scratch"), [".", "..", "seed", "d"])
    XCTAssertEqual(try h.stat("scratch").nlink, 3)
    XCTAssertEqual(sb.usedBlocks, 3, "10000 bytes in 4 KiB pages")
    try h.unlink("scratch/d/g")
    XCTAssertEqual(sb.usedBlocks, 0, "evicting a memory file gives its blocks back")
    try h.rmdir("scratch/d")
    // A read-only file added to a memory directory can be renamed and removed.
    try h.rename("scratch/seed", "scratch/seed2")
    XCTAssertEqual(try h.read("scratch/seed2"), "S")
    try h.unlink("scratch/seed2")
    XCTAssertEqual(try h.names("scratch"), [".", ".."])
    assertConsistent(h.vfs)
  }
}

final class TreeFileSystemTests: XCTestCase {
  /// The issue's file system: a JSON document as a tree (objects are
  /// directories, strings and numbers read-only files), a writable
  /// notes.txt and a dev/counter char device. The declaration is the point:
  /// it stays short.
  static func jsonTree(_ json: String, major: UInt32) throws -> TreeFileSystem {
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
    func fill(_ dir: TreeDirectory, _ object: [String: Any]) {
      for (key, value) in object.sorted(by: { $0.key < $1.key }) {
        switch value {
        case let child as [String: Any]: dir.directory(key) { fill($0, child) }
        case let text as String: dir.file(key, text + "\n")
        case let number as NSNumber: dir.file(key, "\(number)\n")
        default: break
        }
      }
    }
    let dev = try DevT(major: major, minor: 0)
    return TreeFileSystem(name: "jsonfs") { root in
      fill(root, object as? [String: Any] ?? [:])
      root.memoryFile("notes.txt")
      root.directory("dev") { $0.charDevice("counter", dev) }
      root.symlink("latest", to: "notes.txt")
    }
  }

  func testJSONTreeWithNotesAndACounterDevice() throws {
    let json = #"{"name": "swiftvfs", "version": 10, "owner": {"login": "ada", "id": 7}}"#
    let h = try LibraryHarness(Self.jsonTree(json, major: 240))
    XCTAssertEqual(
      try h.names("/"), [".", "..", "name", "owner", "version", "notes.txt", "dev", "latest"])
    XCTAssertEqual(try h.read("name"), "swiftvfs\n")
    XCTAssertEqual(try h.read("version"), "10\n")
    XCTAssertEqual(try h.read("owner/login"), "ada\n")
    XCTAssertEqual(try h.read("owner/id"), "7\n")
    try h.write("notes.txt", "remember\n", flags: Int32(O_WRONLY | O_APPEND))
    XCTAssertEqual(try h.read("notes.txt"), "remember\n")
    let counter = try h.stat("dev/counter")
    XCTAssertEqual(FileType(mode: counter.mode), .characterDevice)
    XCTAssertEqual(counter.rdev, try DevT(major: 240, minor: 0))
    XCTAssertEqual(try h.vfs.readlink(h.walk("latest")), Array("notes.txt".utf8))
    // The root is the superblock's first inode.
    let inos = try ["name", "owner", "notes.txt", "dev", "dev/counter"].map { try h.walk($0).ino }
    XCTAssertLessThan(h.root.ino, inos.min()!)
    // A driver registered for the number serves the node.
    struct Counter: FileOperations {
      func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
        throws(Errno) -> Int
      { ReadOnlyFile.copy(Array("42\n".utf8), into: buffer, at: offset) }
    }
    try h.vfs.chrdevs.registerChrdev(major: 240, name: "counter", fileOps: Counter())
    XCTAssertEqual(try h.read("dev/counter"), "42\n")
    assertConsistent(h.vfs)
  }

  func testEachMountIsAFreshTree() throws {
    let type = TreeFileSystem(name: "t", writable: true) { $0.memoryFile("n", "start") }
    let h = try LibraryHarness(type)
    try h.write("n", "changed")
    try h.create("extra")
    let second = try h.vfs.mount("t", at: "extra2", options: MountOptions(), createMountPoint: true)
    XCTAssertEqual(try h.read("extra2/n"), "start")
    XCTAssertEqual(try h.read("n"), "changed")
    XCTAssertTrue(MemoryDirectory.isMemoryDirectory(second.root))
  }
}

final class TypedPrivateDataTests: XCTestCase {
  struct Config: Sendable, Equatable {
    var name: String
    var limit: Int
  }
  final class Box: @unchecked Sendable {}

  func testPayloadRoundTripsItsType() throws {
    let h = try LibraryHarness(TreeFileSystem(name: "t") { $0.file("f", "") })
    let inode = try h.walk("f")
    XCTAssertNil(inode.payload(as: Config.self))
    inode.setPayload(Config(name: "x", limit: 3))
    XCTAssertEqual(inode.payload(as: Config.self), Config(name: "x", limit: 3))
    XCTAssertNil(inode.payload(as: Int.self), "another type reads as nil")
    inode.setPayload(42)
    XCTAssertEqual(inode.payload(as: Int.self), 42)
    let box = Box()
    inode.privateData = box
    XCTAssertTrue(inode.payload(as: Box.self) === box, "a class stored directly reads back too")
    h.vfs.rootSuperBlock.setPayload(["a": 1])
    XCTAssertEqual(h.vfs.rootSuperBlock.payload(as: [String: Int].self), ["a": 1])
  }

  func testMemfsKeepsItsOwnPrivateData() throws {
    let h = try MemfsHarness()
    let f = try h.file(h.root, "f", Array("data".utf8))
    XCTAssertNil(f.payload(as: Config.self))
    XCTAssertEqual(try h.readAll(f), Array("data".utf8))
  }
}
