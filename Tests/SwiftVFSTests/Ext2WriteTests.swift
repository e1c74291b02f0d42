// ext2 read-write (Sources/SwiftVFS/Ext2), through the public VFS API only:
// trees with every kind of file are made on fresh `mke2fs -t ext2` images
// (1 KiB and 4 KiB blocks), the VFS is unmounted (`VFS.unmountAll()`, the
// put_super path), and `e2fsck -fn` must find nothing; a new mount must show
// the same tree. Also: a full disk (ENOSPC, nothing lost), an unlinked file
// kept while open, and s_state (not clean while mounted, clean after).

import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The bytes of a deterministic pattern.
private func pattern(_ seed: Int, count: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31) ^ ($0 >> 7) ^ seed) }
}

/// A counter several threads bump.
private final class ManagedAtomicCounter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  func add() { lock.withLock { count += 1 } }
  var value: Int { lock.withLock { count } }
}

final class Ext2WriteTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var directory: String { scratch.path }

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2w")
  }

  override func tearDownWithError() throws {
    try? scratch?.remove()
    scratch = nil
  }

  // MARK: - Helpers (public API only)

  private func makeImage(blockSize: Int, name: String = "w.img", size: String = "32M") throws
    -> String
  {
    let image = directory + "/" + name
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "\(blockSize)", image, size])
    XCTAssertEqual(status, 0, output)
    return image
  }

  private func mount(_ image: String, options: String = "") throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    let text = options.isEmpty ? "source=\(image)" : "source=\(image),\(options)"
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: text))
    return vfs
  }

  /// `e2fsck -fn` must exit 0 and report no problem.
  private func assertClean(_ image: String, file: StaticString = #filePath, line: UInt = #line)
    throws
  {
    let (status, output) = try runTool("/usr/sbin/e2fsck", ["-fn", image])
    XCTAssertEqual(status, 0, "e2fsck -fn:\n\(output)", file: file, line: line)
    for word in ["Fix?", "Clear?", "wrong", "Salvage?", "Relocate?", "Connect to"] {
      XCTAssertFalse(output.contains(word), "e2fsck -fn:\n\(output)", file: file, line: line)
    }
  }

  private func lookup(_ vfs: VFS, _ path: String) throws -> Inode {
    var inode = vfs.root
    for part in path.split(separator: "/") {
      inode = try vfs.lookup(inode, FileName(String(part)))
    }
    return inode
  }

  private func writeFile(_ vfs: VFS, _ dir: Inode, _ name: String, _ chunks: [(Int64, [UInt8])])
    throws -> Inode
  {
    let (inode, fh, file) = try vfs.create(
      dir, FileName(name), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    defer { vfs.release(fh) }
    for (offset, bytes) in chunks {
      let n = try bytes.withUnsafeBytes { try vfs.write(file, from: $0, at: offset) }
      XCTAssertEqual(n, bytes.count)
    }
    return inode
  }

  private func listing(_ vfs: VFS, _ dir: Inode) throws -> [String] {
    let (fh, file) = try vfs.open(dir, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    var out: [String] = []
    var offset: Int64 = 0
    var more = true
    while more {
      var batch = 0
      try vfs.readdir(file, from: offset) { entry in
        out.append(entry.name.description)
        offset = entry.offset
        batch += 1
        return batch < 50
      }
      more = batch == 50
    }
    return out.filter { $0 != "." && $0 != ".." }.sorted()
  }

  /// What the tree looks like, path by path: type, mode, owner, links, size,
  /// mtime, and a digest of contents, targets and device numbers.
  private func describe(_ vfs: VFS, _ dir: Inode, _ prefix: String, into out: inout [String])
    throws
  {
    for name in try listing(vfs, dir) {
      let inode = try vfs.lookup(dir, FileName(name))
      let st = try vfs.getattr(inode)
      var line = "\(prefix)/\(name) \(String(st.mode, radix: 8)) \(st.uid):\(st.gid) "
      for xattr in try vfs.listxattr(inode, cred: .root).sorted() {
        let value = try vfs.getxattr(inode, xattr, cred: .root)
        line += "x[\(xattr)=\(value.count):\(value.reduce(0) { $0 &* 31 &+ Int($1) })] "
      }
      line += "n\(st.nlink) s\(st.size) m\(st.mtime.sec).\(st.mtime.nsec) r\(st.rdev.rawValue)"
      switch inode.type {
      case .regular:
        let bytes = try readBytes(vfs, inode, at: 0, count: Int(min(st.size, 1 << 22)))
        line +=
          " h\(bytes.reduce(UInt64(1_469_598_103_934_665_603)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 })"
      case .symlink:
        line += " -> " + String(decoding: try vfs.readlink(inode), as: UTF8.self)
      case .directory:
        out.append(line)
        try describe(vfs, inode, prefix + "/" + name, into: &out)
        continue
      default: break
      }
      out.append(line)
    }
  }

  // MARK: - A tree with every kind of file

  private func buildTree(_ vfs: VFS, blockSize: Int) throws {
    let root = vfs.root
    _ = try writeFile(vfs, root, "small", [(0, Array("hello, ext2\n".utf8))])
    let large = pattern(7, count: 3 << 20)
    var chunks: [(Int64, [UInt8])] = []
    for start in stride(from: 0, to: large.count, by: 65536) {
      chunks.append((Int64(start), Array(large[start..<min(large.count, start + 65536)])))
    }
    _ = try writeFile(vfs, root, "large", chunks)
    // Past the triple-indirect boundary (12 + p + p² blocks, p = blockSize/4).
    let p = Int64(blockSize / 4)
    let triple = (12 + p + p * p) * Int64(blockSize)
    _ = try writeFile(
      vfs, root, "sparse",
      [
        (0, pattern(1, count: 100)), (300_000, pattern(2, count: 5000)),
        (triple + 123, pattern(3, count: 3000)),
      ])
    // A directory of 500 names, then half removed.
    let many = try vfs.mkdir(root, "many", mode: 0o755, cred: .root)
    for i in 0..<500 { _ = try writeFile(vfs, many, "entry-\(i)-with-a-longer-name", []) }
    for i in stride(from: 0, to: 500, by: 2) {
      try vfs.unlink(many, FileName("entry-\(i)-with-a-longer-name"))
    }
    let sub = try vfs.mkdir(root, "sub", mode: 0o750, cred: .root)
    let deep = try vfs.mkdir(sub, "deep", mode: 0o700, cred: .root)
    _ = try writeFile(vfs, deep, "leaf", [(0, pattern(9, count: 10_000))])
    _ = try vfs.symlink(root, "fast", target: Array("small".utf8), cred: .root)
    let slowTarget = String(repeating: "long/", count: 40) + "target"
    _ = try vfs.symlink(sub, "slow", target: Array(slowTarget.utf8), cred: .root)
    _ = try vfs.link(try lookup(vfs, "small"), sub, "hard")
    _ = try vfs.mknod(
      root, "null", mode: FileType.characterDevice.rawValue | 0o666,
      rdev: try DevT(major: 1, minor: 3), cred: .root)
    _ = try vfs.mknod(
      root, "bigdev", mode: FileType.blockDevice.rawValue | 0o660,
      rdev: try DevT(major: 259, minor: 300_000), cred: .root)
    _ = try vfs.mknod(root, "fifo", mode: FileType.fifo.rawValue | 0o644, rdev: .zero, cred: .root)
    _ = try vfs.mknod(
      root, "socket", mode: FileType.socket.rawValue | 0o755, rdev: .zero, cred: .root)
    // chmod, chown (32-bit ids), utimes with nanoseconds.
    let small = try lookup(vfs, "small")
    _ = try vfs.setattr(
      small,
      SetAttr(
        mode: 0o640, uid: 100_000, gid: 200_000,
        mtime: .to(Timestamp(sec: 1_600_000_000, nsec: 123_456_789))), cred: .root)
    // Renames: in place, over a file, a directory to another parent,
    // NOREPLACE, and EXCHANGE of a file and a directory across parents.
    _ = try writeFile(vfs, root, "victim", [(0, pattern(4, count: 5000))])
    _ = try writeFile(vfs, root, "mover", [(0, pattern(5, count: 7000))])
    try vfs.rename(root, "mover", root, "victim")
    try vfs.rename(sub, "deep", many, "deep-moved")
    _ = try writeFile(vfs, root, "keep", [(0, Array("keep".utf8))])
    XCTAssertEqual(
      errnoOf { try vfs.rename(root, "keep", root, "victim", flags: .noReplace) }, .EEXIST)
    let swapDir = try vfs.mkdir(root, "swapdir", mode: 0o755, cred: .root)
    _ = try writeFile(vfs, swapDir, "inside", [(0, Array("x".utf8))])
    try vfs.rename(root, "swapdir", sub, "hard", flags: .exchange)
    // The non-empty target of a rename, and rmdir of a non-empty directory.
    XCTAssertEqual(errnoOf { try vfs.rmdir(root, "many") }, .ENOTEMPTY)
    // Truncates: down inside a block, then up (the tail reads as zeros).
    let trunc = try writeFile(vfs, root, "trunc", [(0, pattern(6, count: 300_000))])
    _ = try vfs.setattr(trunc, SetAttr(size: 5001), cred: .root)
    _ = try vfs.setattr(trunc, SetAttr(size: 20_000), cred: .root)
    let bytes = try readBytes(vfs, trunc, at: 0, count: 20_000)
    XCTAssertEqual(Array(bytes[0..<5001]), Array(pattern(6, count: 5001)))
    XCTAssertEqual(bytes[5001...].filter { $0 != 0 }.count, 0, "the tail after truncate")
    _ = try vfs.setattr(try lookup(vfs, "large"), SetAttr(size: 1_000_000), cred: .root)
    // A removed directory.
    _ = try vfs.mkdir(root, "gone", mode: 0o755, cred: .root)
    try vfs.rmdir(root, "gone")
    // Xattrs: set, replace, remove; a block emptied; an ACL.
    let leaf = try lookup(vfs, "many/deep-moved/leaf")
    try vfs.setxattr(leaf, "user.one", Array("1".utf8), flags: [], cred: .root)
    try vfs.setxattr(leaf, "user.two", pattern(8, count: 300), flags: [], cred: .root)
    try vfs.setxattr(leaf, "trusted.three", Array("three".utf8), flags: [], cred: .root)
    XCTAssertEqual(
      errnoOf { try vfs.setxattr(leaf, "user.one", [1], flags: .create, cred: .root) }, .EEXIST)
    XCTAssertEqual(
      errnoOf { try vfs.setxattr(leaf, "user.nope", [1], flags: .replace, cred: .root) }, .ENODATA)
    try vfs.setxattr(leaf, "user.one", Array("uno".utf8), flags: .replace, cred: .root)
    try vfs.removexattr(leaf, "trusted.three", cred: .root)
    let victim = try lookup(vfs, "victim")
    try vfs.setxattr(victim, "user.gone", [1, 2, 3], flags: [], cred: .root)
    try vfs.removexattr(victim, "user.gone", cred: .root)
    XCTAssertEqual(try vfs.listxattr(victim, cred: .root), [])
    let acl = try XCTUnwrap(
      PosixAcl.parse(
        xattr: PosixAcl([
          .init(.userObj, 6), .init(.user, 4, id: 1234), .init(.groupObj, 4), .init(.mask, 4),
          .init(.other, 0),
        ]).xattr))
    try vfs.setxattr(sub, PosixAcl.accessXattr, acl.xattr, flags: [], cred: .root)
  }

  private func checkTree(blockSize: Int) throws {
    let image = try makeImage(blockSize: blockSize)
    let vfs = try mount(image)
    try buildTree(vfs, blockSize: blockSize)
    var before: [String] = []
    try describe(vfs, vfs.root, "", into: &before)
    vfs.unmountAll()
    try assertClean(image)

    let again = try mount(image, options: "ro")
    var after: [String] = []
    try describe(again, again.root, "", into: &after)
    again.unmountAll()
    XCTAssertEqual(before, after)
    XCTAssertEqual(after.filter { $0.hasPrefix("/many/entry-") }.count, 250)
    let small = try XCTUnwrap(after.first { $0.hasPrefix("/small ") })
    XCTAssertTrue(small.contains("100640 100000:200000 n2 s12 m1600000000.123456789"), small)
    XCTAssertTrue(after.contains { $0.hasPrefix("/many/deep-moved/leaf ") })
    XCTAssertTrue(after.contains { $0.hasPrefix("/sub/hard/inside ") })  // exchanged
    XCTAssertTrue(after.contains { $0.hasPrefix("/swapdir ") && $0.contains(" n2 ") })
    let leaf = try XCTUnwrap(after.first { $0.hasPrefix("/many/deep-moved/leaf ") })
    XCTAssertTrue(leaf.contains("x[user.one=3:") && leaf.contains("x[user.two=300:"), leaf)
    XCTAssertFalse(leaf.contains("trusted.three"), leaf)
    let subLine = try XCTUnwrap(after.first { $0.hasPrefix("/sub ") })
    XCTAssertTrue(subLine.contains("x[system.posix_acl_access="), subLine)
    let victim = try XCTUnwrap(after.first { $0.hasPrefix("/victim ") })
    XCTAssertTrue(victim.contains(" s7000 "), victim)
    XCTAssertFalse(after.contains { $0.hasPrefix("/mover ") || $0.hasPrefix("/gone ") })
    // The device numbers as the kernel stores them: old and new encodings.
    let null = try XCTUnwrap(after.first { $0.hasPrefix("/null ") })
    XCTAssertTrue(null.contains(" r\(try DevT(major: 1, minor: 3).rawValue)"), null)
    let big = try XCTUnwrap(after.first { $0.hasPrefix("/bigdev ") })
    XCTAssertTrue(big.contains(" r\(try DevT(major: 259, minor: 300_000).rawValue)"), big)
    // debugfs reads what we wrote, as the kernel would.
    let (_, stat) = try runTool("/usr/sbin/debugfs", ["-R", "stat /null", image])
    XCTAssertTrue(stat.contains("Device major/minor number: 01:03"), stat)
  }

  func testTreeOnOneKiBBlocks() throws { try checkTree(blockSize: 1024) }
  func testTreeOnFourKiBBlocks() throws { try checkTree(blockSize: 4096) }

  // MARK: - ".." of directories found by lookup

  /// A directory ext2 makes on lookup learns its parent (the VFS connects
  /// it, as d_splice_alias() does), so ".." works after a remount.
  func testDotDotOfDirectoriesFoundByLookup() throws {
    let image = try makeImage(blockSize: 1024, size: "4M")
    let vfs = try mount(image)
    let a = try vfs.mkdir(vfs.root, "a", mode: 0o755, cred: .root)
    _ = try vfs.mkdir(a, "b", mode: 0o755, cred: .root)
    vfs.unmountAll()
    let again = try mount(image, options: "ro")
    let b = try lookup(again, "a/b")
    let up = try again.lookup(b, "..")
    XCTAssertTrue(up === (try lookup(again, "a")))
    XCTAssertTrue(try again.lookup(up, "..") === again.root)
    again.unmountAll()
  }

  // MARK: - An indexed directory

  func testChangingAnIndexedDirectoryKeepsItConsistent() throws {
    let src = directory + "/src"
    try FileManager.default.createDirectory(atPath: src + "/big", withIntermediateDirectories: true)
    for i in 0..<2000 {
      _ = FileManager.default.createFile(
        atPath: src + "/big/name-\(i)", contents: Data([UInt8(i & 0xFF)]))
    }
    let image = directory + "/h.img"
    var (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "1024", "-d", src, image, "32M"])
    XCTAssertEqual(status, 0, output)
    (_, output) = try runTool("/usr/sbin/e2fsck", ["-fyD", image])  // index it
    (_, output) = try runTool("/usr/sbin/debugfs", ["-R", "stat /big", image])
    XCTAssertTrue(output.contains("Flags: 0x1000") || output.contains("IndexFl"), output)
    let vfs = try mount(image)
    let big = try lookup(vfs, "big")
    for i in stride(from: 0, to: 2000, by: 3) { try vfs.unlink(big, FileName("name-\(i)")) }
    for i in 0..<300 { _ = try writeFile(vfs, big, "added-\(i)", []) }
    let expected = try listing(vfs, big)
    vfs.unmountAll()
    try assertClean(image)
    let again = try mount(image, options: "ro")
    XCTAssertEqual(try listing(again, try lookup(again, "big")), expected)
    XCTAssertEqual(expected.count, 2000 - 667 + 300)
    again.unmountAll()
  }

  // MARK: - fsync and syncfs

  func testFsyncAndSyncfsReachTheImageWhileMounted() throws {
    let image = try makeImage(blockSize: 4096)
    let vfs = try mount(image)
    let data = pattern(11, count: 200_000)
    let (_, fh, file) = try vfs.create(
      vfs.root, "synced", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    _ = try data.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    // Before any sync, the image does not have it (writeback is later).
    var (_, text) = try runTool("/usr/sbin/debugfs", ["-R", "stat /synced", image])
    XCTAssertTrue(text.contains("not found") || text.contains("File not found"), text)
    try vfs.fsync(file, dataOnly: false)
    vfs.release(fh)
    let copy = directory + "/copy"
    (_, text) = try runTool("/usr/sbin/debugfs", ["-R", "dump /synced \(copy)", image])
    XCTAssertEqual(
      Array(try XCTUnwrap(FileManager.default.contents(atPath: copy))), data,
      "fsync wrote the data, the inode and the directory entry")
    // After syncfs the whole image is consistent, though still mounted.
    let dir = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root)
    for i in 0..<50 { _ = try writeFile(vfs, dir, "f\(i)", [(0, pattern(i, count: 3000))]) }
    try vfs.unlink(dir, "f7")
    try vfs.syncFS(vfs.root)
    let (status, output) = try runTool("/usr/sbin/e2fsck", ["-fn", image])
    XCTAssertEqual(status, 0, output)
    XCTAssertEqual(try superBlockState(image), "not clean")
    vfs.unmountAll()
    try assertClean(image)
  }

  /// More inodes than stay pinned between syncs (4,096): written on the
  /// way, none lost.
  func testManyInodesAreWrittenOnTheWay() throws {
    let image = try makeImage(blockSize: 4096, size: "64M")
    let vfs = try mount(image)
    let dir = try vfs.mkdir(vfs.root, "lots", mode: 0o755, cred: .root)
    for i in 0..<6000 {
      _ = try writeFile(vfs, dir, "n\(i)", i % 10 == 0 ? [(Int64(0), Array("\(i)".utf8))] : [])
    }
    vfs.unmountAll()
    try assertClean(image)
    let again = try mount(image, options: "ro")
    let lots = try lookup(again, "lots")
    XCTAssertEqual(try listing(again, lots).count, 6000)
    XCTAssertEqual(
      try readBytes(again, try lookup(again, "lots/n5990"), at: 0, count: 10), Array("5990".utf8))
    again.unmountAll()
  }

  // MARK: - Damaged images, written to

  /// 120 seeded, damaged copies of a small image (random bytes in the
  /// superblock, the descriptors, bitmaps, inode tables and directory
  /// blocks) are mounted read-write and changed: every step either works or
  /// throws an Errno, never a crash or a hang; unmount always returns.
  func testWritingDamagedImagesNeverCrashes() throws {
    let src = directory + "/fz"
    try FileManager.default.createDirectory(
      atPath: src + "/dir/sub", withIntermediateDirectories: true)
    for i in 0..<40 {
      _ = FileManager.default.createFile(
        atPath: src + "/dir/f\(i)", contents: Data(pattern(i, count: 100 * i)))
    }
    _ = FileManager.default.createFile(
      atPath: src + "/big", contents: Data(pattern(1, count: 200_000)))
    let image = directory + "/fz.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "1024", "-d", src, image, "2M"])
    XCTAssertEqual(status, 0, output)
    let base = Array(try XCTUnwrap(FileManager.default.contents(atPath: image)))
    // The metadata worth damaging: descriptors, bitmaps, the first inode-table
    // blocks, the directories' blocks and the big file's indirect block.
    var targets = [2]
    let (_, dump) = try runTool("/usr/sbin/dumpe2fs", [image])
    for line in dump.split(separator: "\n") {
      let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
      if line.contains("Inode table at"), let first = numbers.first {
        targets += Array(first..<first + 8)
      } else if line.contains("bitmap at"), let first = numbers.first {
        targets.append(first)
      }
    }
    for file in ["/", "/dir", "/dir/sub", "/big"] {
      let (_, text) = try runTool("/usr/sbin/debugfs", ["-R", "blocks \(file)", image])
      let numbers = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
      targets += file == "/big" ? numbers.dropFirst(12).prefix(1) : numbers.prefix(4)
    }
    targets = targets.filter { $0 > 1 && ($0 + 1) * 1024 <= base.count }
    XCTAssertGreaterThan(targets.count, 12)
    var rng = SeededGenerator(state: 0x5EED_0E27)
    let path = directory + "/fz-mut.img"
    var mounted = 0
    var failedSteps = 0
    for _ in 0..<120 {
      var data = base
      for _ in 0..<Int.random(in: 1...8, using: &rng) {
        // The superblock's magic is left alone (a bad magic is only a refusal).
        var offset: Int
        if Int.random(in: 0..<4, using: &rng) == 0 {
          offset = 1024 + Int.random(in: 0..<264, using: &rng)
        } else {
          let block = targets[Int.random(in: 0..<targets.count, using: &rng)]
          offset = block * 1024 + Int.random(in: 0..<1024, using: &rng)
        }
        if offset == 1024 + 56 || offset == 1024 + 57 { offset = 1024 + 4 }
        data[offset] = UInt8.random(in: 0...255, using: &rng)
      }
      XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(data)))
      guard let vfs = try? mount(path) else { continue }
      mounted += 1
      func attempt(_ body: () throws -> Void) {
        do { try body() } catch is Errno { failedSteps += 1 } catch { XCTFail("\(error)") }
      }
      attempt { _ = try writeFile(vfs, vfs.root, "new", [(0, pattern(2, count: 30_000))]) }
      attempt { _ = try vfs.mkdir(vfs.root, "newdir", mode: 0o755, cred: .root) }
      attempt {
        let dir = try lookup(vfs, "dir")
        for i in 0..<10 { try vfs.unlink(dir, FileName("f\(i)")) }
        for i in 0..<10 { _ = try writeFile(vfs, dir, "g\(i)", [(0, [1, 2, 3])]) }
      }
      attempt { try vfs.rename(vfs.root, "big", vfs.root, "moved") }
      attempt { _ = try vfs.setattr(try lookup(vfs, "moved"), SetAttr(size: 10), cred: .root) }
      attempt { try vfs.setxattr(try lookup(vfs, "dir"), "user.x", [1], flags: [], cred: .root) }
      attempt { try vfs.rmdir(try lookup(vfs, "dir"), "sub") }
      attempt {
        _ = try vfs.symlink(
          vfs.root, "link", target: Array(repeating: 0x61, count: 100), cred: .root)
      }
      attempt { try vfs.syncFS(vfs.root) }
      vfs.unmountAll()
    }
    print("ext2 write fuzz: 120 images, \(mounted) mounted, \(failedSteps) failed steps")
    XCTAssertGreaterThan(mounted, 30)
    XCTAssertGreaterThan(failedSteps, 0, "the damage reached what the steps use")
  }

  // MARK: - Threads

  /// Writers in parallel, a tiny cache (so writers push writeback
  /// themselves) and syncfs meanwhile: no deadlock, and e2fsck clean.
  func testParallelWritersWithATinyCache() throws {
    let image = try makeImage(blockSize: 1024, size: "64M")
    let vfs = try mount(image, options: "cache_size=256k")
    let shared = try vfs.mkdir(vfs.root, "shared", mode: 0o755, cred: .root)
    let errors = ManagedAtomicCounter()
    let group = DispatchGroup()
    for t in 0..<4 {
      group.enter()
      Thread.detachNewThread {
        defer { group.leave() }
        do {
          let own = try vfs.mkdir(vfs.root, try FileName("t\(t)"), mode: 0o755, cred: .root)
          for i in 0..<40 {
            let dir = i % 2 == 0 ? own : shared
            let name = try FileName("t\(t)-\(i)")
            let (inode, fh, file) = try vfs.create(
              dir, name, mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
            let data = pattern(t * 100 + i, count: 1000 + (i * 7919) % 150_000)
            _ = try data.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
            if i % 5 == 0 { _ = try vfs.setattr(inode, SetAttr(size: 777), cred: .root) }
            vfs.release(fh)
            if i % 3 == 0 { try vfs.unlink(dir, name) }
          }
        } catch {
          errors.add()
        }
      }
    }
    group.enter()
    Thread.detachNewThread {
      defer { group.leave() }
      for _ in 0..<20 {
        if (try? vfs.syncFS(vfs.root)) == nil { errors.add() }
      }
    }
    XCTAssertEqual(group.wait(timeout: .now() + 300), .success, "no deadlock")
    XCTAssertEqual(errors.value, 0)
    vfs.unmountAll()
    try assertClean(image)
  }

  // MARK: - A full disk

  func testFullDiskGivesENOSPCAndLosesNothing() throws {
    let image = try makeImage(blockSize: 1024, size: "8M")
    let vfs = try mount(image)
    var written: [String: Int] = [:]
    var sawENOSPC = false
    var sawShortWrite = false
    for i in 0..<100 where !sawENOSPC {
      let name = "f\(i)"
      let (_, fh, file) = try vfs.create(
        vfs.root, FileName(name), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
      var size = 0
      let chunk = pattern(i, count: 256 * 1024)
      while true {
        do {
          let n = try chunk.withUnsafeBytes { try vfs.write(file, from: $0, at: Int64(size)) }
          if n < chunk.count { sawShortWrite = true }
          size += n
        } catch let error as Errno {
          XCTAssertEqual(error, .ENOSPC)
          sawENOSPC = true
          break
        }
        if size >= 512 * 1024 { break }
      }
      vfs.release(fh)
      written[name] = size
    }
    XCTAssertTrue(sawENOSPC)
    XCTAssertTrue(sawShortWrite, "a write that does not fit whole returns the bytes that fit")
    XCTAssertEqual(vfs.statfs(vfs.root).blocksFree, 0)
    vfs.unmountAll()
    try assertClean(image)
    let again = try mount(image, options: "ro")
    for (name, size) in written {
      let inode = try lookup(again, name)
      XCTAssertEqual(try again.getattr(inode).size, Int64(size), name)
      let bytes = try readBytes(again, inode, at: 0, count: size)
      let chunk = pattern(Int(name.dropFirst())!, count: 256 * 1024)
      for start in stride(from: 0, to: size, by: chunk.count) {
        let end = min(size, start + chunk.count)
        XCTAssertEqual(Array(bytes[start..<end]), Array(chunk[0..<(end - start)]), name)
      }
    }
    again.unmountAll()
  }

  /// The blocks reserved for the superuser (s_r_blocks_count): another
  /// user gets ENOSPC while they are left, root may still write.
  func testReservedBlocksAreForRootAlone() throws {
    let image = try makeImage(blockSize: 1024, size: "8M")
    let vfs = try mount(image)
    let open = try vfs.mkdir(vfs.root, "open", mode: 0o777, cred: .root)
    let user = Cred(uid: 1000, gid: 1000)
    let (_, fh, file) = try vfs.create(
      open, "user", mode: 0o644, flags: O_RDWR | O_CREAT, cred: user)
    let chunk = pattern(1, count: 64 * 1024)
    var size: Int64 = 0
    var failure: Errno?
    while failure == nil, size < 16 << 20 {
      do {
        size += Int64(try chunk.withUnsafeBytes { try vfs.write(file, from: $0, at: size) })
      } catch let error as Errno {
        failure = error
      }
    }
    vfs.release(fh)
    XCTAssertEqual(failure, .ENOSPC)
    let (_, text) = try runTool("/usr/sbin/dumpe2fs", ["-h", image])
    let reservedLine = text.split(separator: "\n").first { $0.hasPrefix("Reserved block count:") }
    let reserved = try XCTUnwrap(
      reservedLine.flatMap {
        UInt64($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces))
      })
    XCTAssertGreaterThan(reserved, 0)
    let free = vfs.statfs(vfs.root)
    XCTAssertEqual(free.blocksAvailable, 0)
    XCTAssertGreaterThanOrEqual(free.blocksFree, reserved)
    // Root writes into the reserve.
    _ = try writeFile(vfs, vfs.root, "root", [(0, pattern(2, count: 100_000))])
    XCTAssertLessThan(vfs.statfs(vfs.root).blocksFree, free.blocksFree)
    vfs.unmountAll()
    try assertClean(image)
  }

  /// No free inode left: create and mkdir are ENOSPC, nothing else changes.
  func testNoFreeInodeGivesENOSPC() throws {
    let image = directory + "/few.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-N", "32", image, "4M"])
    XCTAssertEqual(status, 0, output)
    let vfs = try mount(image)
    var made = 0
    var failure: Errno?
    while failure == nil, made < 1000 {
      do {
        _ = try writeFile(vfs, vfs.root, "f\(made)", [(0, [1])])
        made += 1
      } catch let error as Errno {
        failure = error
      }
    }
    XCTAssertEqual(failure, .ENOSPC)
    XCTAssertEqual(vfs.statfs(vfs.root).filesFree, 0)
    XCTAssertEqual(errnoOf { _ = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root) }, .ENOSPC)
    try vfs.unlink(vfs.root, "f0")
    _ = try vfs.mkdir(vfs.root, "d", mode: 0o755, cred: .root)  // the freed number serves again
    vfs.unmountAll()
    try assertClean(image)
    let again = try mount(image, options: "ro")
    XCTAssertEqual(try listing(again, again.root).count, made - 1 + 2)  // + d and lost+found
    again.unmountAll()
  }

  // MARK: - Lifecycle

  func testUnlinkedOpenFileIsFreedAtLastClose() throws {
    let image = try makeImage(blockSize: 4096)
    let vfs = try mount(image)
    let freeBefore = vfs.statfs(vfs.root)
    let (inode, fh, file) = try vfs.create(
      vfs.root, "doomed", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    try vfs.unlink(vfs.root, "doomed")
    let data = pattern(3, count: 1 << 20)
    let n = try data.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    XCTAssertEqual(n, data.count)
    var back = [UInt8](repeating: 0, count: data.count)
    _ = try back.withUnsafeMutableBytes { try vfs.read(file, into: $0, at: 0) }
    XCTAssertEqual(back, data)
    XCTAssertLessThan(vfs.statfs(vfs.root).blocksFree, freeBefore.blocksFree)
    XCTAssertEqual(try vfs.getattr(inode).nlink, 0)
    vfs.release(fh)
    let freeAfter = vfs.statfs(vfs.root)
    XCTAssertEqual(freeAfter.blocksFree, freeBefore.blocksFree)
    XCTAssertEqual(freeAfter.filesFree, freeBefore.filesFree)
    vfs.unmountAll()
    try assertClean(image)
  }

  func testOrphanOpenAtUnmountIsFreedAndLateChangesAreWritten() throws {
    let image = try makeImage(blockSize: 1024)
    let vfs = try mount(image)
    let free = vfs.statfs(vfs.root)
    let (_, _, file) = try vfs.create(
      vfs.root, "orphan", mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    _ = try pattern(1, count: 100_000).withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    try vfs.unlink(vfs.root, "orphan")
    let kept = try writeFile(vfs, vfs.root, "kept", [(0, Array("x".utf8))])
    try vfs.syncFS(vfs.root)  // unpins every inode: later changes must still reach the disk
    // An ACL set after the sync (the VFS keeps it in the Inode alone), chattr.
    let acl = PosixAcl([
      .init(.userObj, 6), .init(.user, 4, id: 42), .init(.groupObj, 4), .init(.mask, 4),
      .init(.other, 4),
    ])
    try vfs.setxattr(kept, PosixAcl.accessXattr, acl.xattr, flags: [], cred: .root)
    try vfs.setFlags(kept, .noDump, cred: .root)
    // Unmounted with the orphan still open (the file is never released).
    vfs.unmountAll()
    try assertClean(image)
    let again = try mount(image, options: "ro")
    // The orphan's 100 KB came back; "kept" holds a data block and an xattr block.
    XCTAssertEqual(again.statfs(again.root).blocksFree, free.blocksFree - 2)
    XCTAssertEqual(again.statfs(again.root).filesFree, free.filesFree - 1)
    let keptAgain = try lookup(again, "kept")
    XCTAssertEqual(try again.getxattr(keptAgain, PosixAcl.accessXattr, cred: .root), acl.xattr)
    XCTAssertEqual(keptAgain.flags, .noDump)
    again.unmountAll()
  }

  private func superBlockState(_ image: String) throws -> String {
    let (_, text) = try runTool("/usr/sbin/dumpe2fs", ["-h", image])
    let line = text.split(separator: "\n").first { $0.hasPrefix("Filesystem state:") }
    return line.map { $0.dropFirst("Filesystem state:".count).trimmingCharacters(in: .whitespaces) }
      ?? ""
  }

  private func mountCount(_ image: String) throws -> Int? {
    let (_, text) = try runTool("/usr/sbin/dumpe2fs", ["-h", image])
    let line = text.split(separator: "\n").first { $0.hasPrefix("Mount count:") }
    return line.flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
  }

  func testStateIsNotCleanWhileMountedReadWrite() throws {
    let image = try makeImage(blockSize: 1024)
    XCTAssertEqual(try superBlockState(image), "clean")
    let count = try XCTUnwrap(try mountCount(image))
    let vfs = try mount(image)
    XCTAssertEqual(try superBlockState(image), "not clean")
    XCTAssertEqual(try mountCount(image), count + 1)
    _ = try writeFile(vfs, vfs.root, "a", [(0, Array("a".utf8))])
    vfs.unmountAll()
    XCTAssertEqual(try superBlockState(image), "clean")
    try assertClean(image)
    // A read-write mount and unmount with no change in between touches the
    // superblock's mount fields alone (bytes 1024..<2048).
    let image2 = try makeImage(blockSize: 4096, name: "idle.img", size: "8M")
    let idleBefore = Array(try XCTUnwrap(FileManager.default.contents(atPath: image2)))
    try mount(image2).unmountAll()
    let idleAfter = Array(try XCTUnwrap(FileManager.default.contents(atPath: image2)))
    XCTAssertEqual(idleBefore.count, idleAfter.count)
    let changed = idleBefore.indices.filter { idleBefore[$0] != idleAfter[$0] }
    XCTAssertFalse(changed.isEmpty, "s_mnt_count and s_mtime moved")
    XCTAssertTrue(
      changed.allSatisfy { (1024..<2048).contains($0) }, "changed: \(changed.prefix(20))")
    // A read-only mount writes nothing.
    let before = try XCTUnwrap(FileManager.default.contents(atPath: image))
    let ro = try mount(image, options: "ro")
    XCTAssertEqual(try superBlockState(image), "clean")
    XCTAssertEqual(errnoOf { _ = try ro.mkdir(ro.root, "x", mode: 0o755, cred: .root) }, .EROFS)
    ro.unmountAll()
    XCTAssertEqual(try XCTUnwrap(FileManager.default.contents(atPath: image)), before)
  }

  /// statx's birth time comes from i_crtime, as the ext4 driver that serves
  /// ext2 here shows it: set at creation in a 256-byte inode, never moved by
  /// later changes, kept across a mount; a 128-byte inode has none.
  func testBirthTimeIsTheInodesCrtime() throws {
    let image = try makeImage(blockSize: 4096, name: "big.img", size: "8M")
    var vfs = try mount(image)
    let before = Timestamp.now
    let file = try writeFile(vfs, vfs.root, "f", [(0, Array("x".utf8))])
    let after = Timestamp.now
    let born = try XCTUnwrap(try vfs.getattr(file).btime, "a 256-byte inode has crtime")
    XCTAssertTrue(before <= born && born <= after, "\(born) not in \(before)...\(after)")
    _ = try vfs.setattr(
      file, SetAttr(mode: 0o600, mtime: .to(Timestamp(sec: 1_000, nsec: 5))), cred: .root)
    XCTAssertEqual(try vfs.getattr(file).btime, born, "a change moves ctime, not the birth")
    vfs.unmountAll()
    try assertClean(image)
    vfs = try mount(image)
    XCTAssertEqual(try vfs.getattr(try lookup(vfs, "f")).btime, born, "kept on the disk")
    vfs.unmountAll()

    let small = directory + "/small.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-I", "128", small, "8M"])
    XCTAssertEqual(status, 0, output)
    vfs = try mount(small)
    let old = try writeFile(vfs, vfs.root, "f", [(0, Array("x".utf8))])
    XCTAssertNil(try vfs.getattr(old).btime, "a 128-byte inode has no crtime")
    vfs.unmountAll()
  }

  func testUnknownROCompatRefusesReadWriteMount() throws {
    let image = try makeImage(blockSize: 1024, size: "4M")
    let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: image))
    try handle.seek(toOffset: 1024 + 100)
    var value = try XCTUnwrap(handle.readData(ofLength: 4)).withUnsafeBytes {
      $0.loadUnaligned(as: UInt32.self)
    }
    value |= 0x1000
    try handle.seek(toOffset: 1024 + 100)
    handle.write(withUnsafeBytes(of: value) { Data($0) })
    try handle.close()
    XCTAssertEqual(errnoOf { _ = try self.mount(image) }, .EINVAL)
    let ro = try mount(image, options: "ro")
    XCTAssertTrue(ro.rootSuperBlock.readOnly)
    ro.unmountAll()
  }
}
