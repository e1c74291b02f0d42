// Listings of names with borrowed bytes (`FileOperations.iterateNames`,
// `VFS.readdirNames`, what FUSE READDIR uses): they must give exactly what
// `iterate` and `readdir` give (names, numbers, types, cookies, from any
// cookie), over ext2's in-place scan and over the default implementation
// (memfs), with the VFS's synthesized and covered mount points.

import Foundation
import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems

#if canImport(Glibc)
  import Glibc
#endif

/// One listed entry, copied out of a borrowed or a made entry.
private struct Listed: Equatable, CustomStringConvertible {
  let name: [UInt8]
  let ino: UInt64
  let type: FileType
  let offset: Int64
  let hasInode: Bool

  init(_ entry: DirEntry) {
    name = entry.name.bytes
    ino = entry.ino
    type = entry.type
    offset = entry.offset
    hasInode = entry.inode != nil
  }

  init(_ entry: DirEntryView) {
    name = Array(entry.name)
    ino = entry.ino
    type = entry.type
    offset = entry.offset
    hasInode = entry.inode != nil
  }

  var description: String {
    "\(String(decoding: name, as: UTF8.self)) ino=\(ino) \(type) off=\(offset)"
  }

  /// All but whether an inode came along, which listings may differ in.
  var key: String { description }
}

/// How a listing is taken.
private enum Lister {
  /// `file.fileOps.iterate(_:from:inodes:_:)`.
  case iterate(inodes: Bool)
  /// `file.fileOps.iterateNames`.
  case iterateNames
  /// `VFS.readdir(_:from:inodes:_:)`.
  case readdir(inodes: Bool)
  /// `VFS.readdirNames`.
  case readdirNames

  /// Up to `max` entries of `file` from `cookie`.
  func list(_ vfs: VFS, _ file: File, from cookie: Int64, max: Int = .max) throws -> [Listed] {
    var out: [Listed] = []
    switch self {
    case .iterate(let inodes):
      try file.fileOps.iterate(file, from: cookie, inodes: inodes) { entry in
        guard out.count < max else { return false }
        out.append(Listed(entry))
        return true
      }
    case .iterateNames:
      try file.fileOps.iterateNames(file, from: cookie) { entry in
        guard out.count < max else { return false }
        out.append(Listed(entry))
        return true
      }
    case .readdir(let inodes):
      try vfs.readdir(file, from: cookie, inodes: inodes) { entry in
        guard out.count < max else { return false }
        out.append(Listed(entry))
        return true
      }
    case .readdirNames:
      try vfs.readdirNames(file, from: cookie) { entry in
        guard out.count < max else { return false }
        out.append(Listed(entry))
        return true
      }
    }
    return out
  }

  /// The whole listing taken in pages of `page` entries, each resumed from
  /// the last cookie.
  func paged(_ vfs: VFS, _ file: File, page: Int) throws -> [Listed] {
    var out: [Listed] = []
    var cookie: Int64 = 0
    while true {
      let got = try list(vfs, file, from: cookie, max: page)
      out += got
      guard got.count == page, let last = got.last else { return out }
      cookie = last.offset
    }
  }
}

/// Asserts that two listers give the same entries from 0 and from every
/// cookie of the full listing, and in pages.
private func assertSameListings(
  _ vfs: VFS, _ file: File, _ a: Lister, _ b: Lister, _ what: String,
  file callerFile: StaticString = #filePath, line: UInt = #line
) throws -> [Listed] {
  let full = try a.list(vfs, file, from: 0)
  XCTAssertEqual(
    try b.list(vfs, file, from: 0).map(\.key), full.map(\.key), "\(what) from 0",
    file: callerFile, line: line)
  for entry in full {
    XCTAssertEqual(
      try b.list(vfs, file, from: entry.offset).map(\.key),
      try a.list(vfs, file, from: entry.offset).map(\.key), "\(what) from \(entry.offset)",
      file: callerFile, line: line)
  }
  for page in [1, 7] {
    XCTAssertEqual(
      try b.paged(vfs, file, page: page).map(\.key), full.map(\.key), "\(what) in pages of \(page)",
      file: callerFile, line: line)
  }
  return full
}

/// ext2's `iterateNames`, over its directory blocks in place.
final class Ext2NameListingTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var directory: String { scratch.path }

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2names")
  }

  override func tearDownWithError() throws {
    try? scratch?.remove()
    scratch = nil
  }

  private func mount(_ image: String, readOnly: Bool) throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    try vfs.filesystems.register(MemfsType())
    let text = "source=\(image)" + (readOnly ? ",ro" : "")
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: text))
    return vfs
  }

  private func mke2fs(_ arguments: [String]) throws {
    let (status, output) = try runTool("/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2"] + arguments)
    XCTAssertEqual(status, 0, output)
  }

  /// Copies `image` to `name` with `bytes` written at `offset`.
  private func patched(_ image: String, _ name: String, at offset: Int, _ bytes: [UInt8]) throws
    -> String
  {
    let copy = directory + "/" + name
    try FileManager.default.copyItem(atPath: image, toPath: copy)
    let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: copy))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
    return copy
  }

  /// A directory of several 1 KiB blocks holding every kind of entry, with
  /// deleted records both merged into the one before (rec_len) and left
  /// first in their block with inode 0 (ext2_delete_entry()): the names
  /// listing gives what `iterate` gives, from every cookie; only the
  /// entries that need it carry an inode.
  func testNamesMatchIterateAcrossBlocksWithDeletedRecords() throws {
    let image = directory + "/n.img"
    try mke2fs(["-b", "1024", image, "8M"])
    let vfs = try mount(image, readOnly: false)
    defer { vfs.unmountAll() }
    let d = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root)
    var names: [String] = []
    for i in 0..<240 {
      // Names of 8 to 47 bytes: records of several sizes.
      let name = "f\(String(format: "%03d", i))-" + String(repeating: "x", count: (i * 7) % 40)
      let (_, fh, _) = try vfs.create(
        d, FileName(name), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      vfs.release(fh)
      names.append(name)
    }
    _ = try vfs.mkdir(d, "sub", mode: 0o755, cred: .root)
    _ = try vfs.symlink(d, "ln", target: Array("f000".utf8), cred: .root)
    _ = try vfs.mknod(
      d, "null", mode: FileType.characterDevice.rawValue | 0o666,
      rdev: try DevT(major: 1, minor: 3), cred: .root)
    _ = try vfs.mknod(
      d, "pipe", mode: FileType.fifo.rawValue | 0o644, rdev: DevT(rawValue: 0), cred: .root)
    let blockSize: Int64 = 1024
    let blocks = try vfs.getattr(d).size / blockSize
    XCTAssertGreaterThanOrEqual(blocks, 5, "the directory spans several blocks")

    let (fh, file) = try vfs.open(d, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    // The first record of each block after the first: its deletion leaves
    // a record with inode 0 (the cookie before it is the block's start).
    let before = try Lister.iterate(inodes: true).list(vfs, file, from: 0)
    var firstInBlock: [String] = []
    for (previous, entry) in zip(before, before.dropFirst())
    where previous.offset % blockSize == 0 {
      firstInBlock.append(String(decoding: entry.name, as: UTF8.self))
    }
    XCTAssertGreaterThanOrEqual(firstInBlock.count, 4)
    var deleted = Set(firstInBlock)
    // And every seventh name: merged into the record before it.
    for (i, name) in names.enumerated() where i % 7 == 3 { deleted.insert(name) }
    for name in deleted { try vfs.unlink(d, FileName(name)) }

    let full = try assertSameListings(
      vfs, file, .iterate(inodes: true), .iterateNames, "ext2 iterateNames")
    _ = try assertSameListings(
      vfs, file, .readdir(inodes: false), .readdirNames, "ext2 readdirNames")
    let shown = Set(full.map { String(decoding: $0.name, as: UTF8.self) })
    XCTAssertTrue(shown.isDisjoint(with: deleted), "deleted names are gone")
    XCTAssertEqual(
      shown, Set(names).subtracting(deleted).union([".", "..", "sub", "ln", "null", "pipe"]))
    // A cookie at the start of a block whose first record has inode 0
    // resumes after it.
    for (previous, entry) in zip(full, full.dropFirst()) where previous.offset % blockSize == 0 {
      XCTAssertEqual(
        try Lister.iterateNames.list(vfs, file, from: previous.offset, max: 1).first?.key,
        entry.key)
    }
    // Only a character device carries its inode (its view needs it).
    let withInode = try Lister.iterateNames.list(vfs, file, from: 0).filter(\.hasInode)
    XCTAssertEqual(withInode.map { String(decoding: $0.name, as: UTF8.self) }, ["null"])
    let types = Dictionary(
      try Lister.iterateNames.list(vfs, file, from: 0).map {
        (String(decoding: $0.name, as: UTF8.self), $0.type)
      }, uniquingKeysWith: { a, _ in a })
    XCTAssertEqual(types["sub"], .directory)
    XCTAssertEqual(types["ln"], .symlink)
    XCTAssertEqual(types["null"], .characterDevice)
    XCTAssertEqual(types["pipe"], .fifo)
    XCTAssertEqual(types["."], .directory)
    // Past the end: nothing.
    XCTAssertEqual(try Lister.iterateNames.list(vfs, file, from: 1 << 40), [])
  }

  /// Without FILETYPE the records name no type: each entry's type comes
  /// from its inode, which the entry then carries, as in `iterate`.
  func testWithoutFileTypeTheInodeGivesTheType() throws {
    let image = directory + "/nf.img"
    try mke2fs(["-b", "1024", "-O", "^filetype", image, "4M"])
    let vfs = try mount(image, readOnly: false)
    defer { vfs.unmountAll() }
    let d = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root)
    for i in 0..<40 {
      let (_, fh, _) = try vfs.create(
        d, FileName("file\(i)"), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      vfs.release(fh)
    }
    _ = try vfs.mkdir(d, "sub", mode: 0o755, cred: .root)
    _ = try vfs.symlink(d, "ln", target: Array("file0".utf8), cred: .root)
    _ = try vfs.mknod(
      d, "pipe", mode: FileType.fifo.rawValue | 0o644, rdev: DevT(rawValue: 0), cred: .root)
    let (fh, file) = try vfs.open(d, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    let full = try assertSameListings(
      vfs, file, .iterate(inodes: true), .iterateNames, "ext2 without FILETYPE")
    XCTAssertEqual(Set(full.map(\.type)), [.directory, .regular, .symlink, .fifo])
    let names = try Lister.iterateNames.list(vfs, file, from: 0)
    XCTAssertEqual(names.count, 2 + 40 + 3)
    for entry in names {
      let isDot = entry.name == [0x2E] || entry.name == [0x2E, 0x2E]
      XCTAssertEqual(entry.hasInode, !isDot, "\(entry): the inode said its type")
    }
  }

  /// A directory covered by a mount shows the mounted root in a listing
  /// of names too, found by number without the directory's inode.
  func testCoveredDirectoryShowsTheMountedRoot() throws {
    let image = directory + "/m.img"
    try mke2fs(["-b", "1024", image, "4M"])
    let vfs = try mount(image, readOnly: false)
    defer { vfs.unmountAll() }
    let covered = try vfs.mkdir(vfs.root, "mnt", mode: 0o755, cred: .root)
    _ = try vfs.mkdir(vfs.root, "plain", mode: 0o755, cred: .root)
    let sb = try vfs.mount("memfs", at: "/mnt", options: MountOptions())
    let (fh, file) = try vfs.open(vfs.root, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    let full = try assertSameListings(
      vfs, file, .readdir(inodes: false), .readdirNames, "ext2 root")
    let mnt = try XCTUnwrap(full.first { $0.name == Array("mnt".utf8) })
    XCTAssertEqual(mnt.ino, sb.root.ino)
    XCTAssertNotEqual(mnt.ino, covered.ino)
    XCTAssertEqual(
      try Lister.iterateNames.list(vfs, file, from: 0).first { $0.name == Array("mnt".utf8) }?
        .ino, covered.ino, "the file system itself lists what it holds")
  }

  /// A damaged directory block gives EUCLEAN, as `iterate` does, after
  /// the entries of the blocks before it; the block is checked whole
  /// before any of its entries is handed out.
  func testDamagedBlockIsEUCLEAN() throws {
    let src = directory + "/src"
    try FileManager.default.createDirectory(atPath: src + "/dir", withIntermediateDirectories: true)
    for i in 0..<60 {
      let path = src + "/dir/name-\(i)-" + String(repeating: "y", count: 20)
      XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data()))
    }
    let image = directory + "/c.img"
    try mke2fs(["-b", "1024", "-d", src, image, "4M"])
    let (status, text) = try runTool("/usr/sbin/debugfs", ["-R", "blocks /dir", image])
    XCTAssertEqual(status, 0, text)
    // runTool mixes in stderr, where debugfs names its version.
    let dirBlocks = text.split(separator: "\n").filter { !$0.hasPrefix("debugfs") }
      .flatMap { $0.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) } }
    XCTAssertGreaterThanOrEqual(dirBlocks.count, 2, text)
    let corrupted = Errno(117)  // EUCLEAN
    // rec_len 5 in the second block's first record (Eshort); a name longer
    // than its record in the first block's third record (Enamelen:
    // "." and ".." take 12 bytes each).
    let damages: [(String, Int, [UInt8], Int)] = [
      ("second.img", dirBlocks[1] * 1024 + 4, [5, 0], 1),
      ("namelen.img", dirBlocks[0] * 1024 + 24 + 6, [255], 0),
    ]
    for (name, offset, bytes, damagedBlock) in damages {
      let vfs = try mount(try patched(image, name, at: offset, bytes), readOnly: true)
      defer { vfs.unmountAll() }
      let dir = try vfs.lookup(vfs.root, "dir")
      defer { vfs.forget(dir.ino, count: 1) }
      let (fh, file) = try vfs.open(dir, flags: O_RDONLY, cred: .root)
      defer { vfs.release(fh) }
      // What each listing hands out before the error.
      var byIterate: [Listed] = []
      XCTAssertEqual(
        vtErrno {
          try file.fileOps.iterate(file, from: 0, inodes: true) { entry in
            byIterate.append(Listed(entry))
            return true
          }
        }, corrupted, name)
      var byNames: [Listed] = []
      XCTAssertEqual(
        vtErrno {
          try file.fileOps.iterateNames(file, from: 0) { entry in
            byNames.append(Listed(entry))
            return true
          }
        }, corrupted, name)
      XCTAssertEqual(byNames.map(\.key), byIterate.map(\.key), name)
      XCTAssertEqual(byNames.isEmpty, damagedBlock == 0, "\(name): the blocks before it are listed")
      XCTAssertTrue(byNames.allSatisfy { $0.offset <= 1024 }, "\(name): nothing of the bad block")
      for lister in [Lister.iterateNames, .readdirNames] {
        XCTAssertEqual(
          vtErrno { _ = try lister.list(vfs, file, from: Int64(damagedBlock) * 1024) }, corrupted,
          "\(name) \(lister)")
      }
    }
  }
}

/// The default `iterateNames` (memfs, and any file system without its own)
/// and `VFS.readdirNames` over synthesized and covered mount points.
final class DefaultNameListingTests: MemfsTestCase {
  func testDefaultGivesWhatIterateGives() throws {
    let d = try h.dir(root, "d")
    for i in 0..<50 { try h.file(d, "file\(i)") }
    try h.dir(d, "sub")
    try h.symlink(d, "ln", "file0")
    let null = try vfs.mknod(
      d, "null", mode: FileType.characterDevice.rawValue | 0o666,
      rdev: try DevT(major: 1, minor: 3), cred: .root)
    try vfs.unlink(d, "file7")
    let (fh, file) = try vfs.open(d, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    let full = try assertSameListings(
      vfs, file, .iterate(inodes: false), .iterateNames, "memfs iterateNames")
    XCTAssertEqual(full.count, 2 + 49 + 3)
    // The inodes memfs has at hand are lent as `iterate` gives them.
    var lentNull: Inode?
    try file.fileOps.iterateNames(file, from: 0) { entry in
      if entry.name.elementsEqual("null".utf8) { lentNull = entry.inode }
      return true
    }
    XCTAssertTrue(lentNull === null)
    _ = try assertSameListings(
      vfs, file, .readdir(inodes: false), .readdirNames, "memfs readdirNames")
  }

  func testReaddirNamesShowsSynthesizedAndCoveredMountPoints() throws {
    try h.file(root, "f")
    let covered = try h.dir(root, "covered")
    let second = try h.mountSecondMemfs(at: "/covered")
    try vfs.mountDevAndProc()
    let extra = try vfs.mount(
      "memfs", at: "/extra", options: MountOptions(), synthesizeMountPoint: true)
    let (fh, file) = try vfs.open(root, flags: 0, cred: .root)
    defer { vfs.release(fh) }
    let full = try assertSameListings(
      vfs, file, .readdir(inodes: false), .readdirNames, "root readdirNames")
    let byName = Dictionary(
      full.map { (String(decoding: $0.name, as: UTF8.self), $0) }, uniquingKeysWith: { a, _ in a })
    XCTAssertEqual(
      full.map { String(decoding: $0.name, as: UTF8.self) },
      [".", "..", "f", "covered", "dev", "proc", "extra"])
    XCTAssertEqual(byName["covered"]?.ino, second.root.ino)
    XCTAssertNotEqual(byName["covered"]?.ino, covered.ino)
    XCTAssertEqual(byName["extra"]?.ino, extra.root.ino)
    XCTAssertGreaterThanOrEqual(
      byName["extra"]?.offset ?? 0, SynthesizedMountPoints.cookieBase, "synthesized cookies")
    // The listing touches atime, as readdir does (file_accessed()).
    h.age(root)
    _ = try Lister.readdirNames.list(vfs, file, from: 0)
    XCTAssertGreaterThan(root.lock.withLock { root.atime.sec }, 1000)
    XCTAssertEqual(vtErrno { _ = try Lister.readdirNames.list(self.vfs, file, from: -1) }, .EINVAL)
  }
}
