// ext2, read-only (Sources/SwiftVFS/Ext2), driven only through the public
// API, as an outside program would: images made by `mke2fs -d` from a source
// tree built here (regular files with holes up to triple indirection, a
// directory of 3,000 names indexed by `e2fsck -D`, fast and slow symlinks,
// device nodes in both encodings, a fifo, a socket, hard links, xattrs, an
// ACL, 32-bit owners, nanosecond mtimes set with debugfs) are mounted with
// `VFS.mount("ext2", ...)` and compared, entry by entry, with the source.
// e2fsprogs are the oracles for statfs; patched copies check the mount's
// refusals; a seeded fuzzer damages metadata and walks the tree.

import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Runs a program; returns its stdout. Throws if it exits non-zero.
@discardableResult
private func ext2Run(_ path: String, _ arguments: [String], allowFailure: Bool = false) throws
  -> String
{
  let process = Process()
  process.executableURL = URL(fileURLWithPath: path)
  process.arguments = arguments
  let out = Pipe()
  process.standardOutput = out
  process.standardError = FileHandle.nullDevice
  try process.run()
  let data = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let text = String(decoding: data, as: UTF8.self)
  if !allowFailure && process.terminationStatus != 0 {
    throw NSError(
      domain: "ext2Run", code: Int(process.terminationStatus),
      userInfo: [NSLocalizedDescriptionKey: "\(path) \(arguments) failed: \(text)"])
  }
  return text
}

final class Ext2ReadTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var directory: String { scratch.path }

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2")
  }

  override func tearDownWithError() throws {
    try? scratch?.remove()
    scratch = nil
  }

  // MARK: - The source tree

  /// Bytes that differ at every offset, so a misplaced block shows.
  private func pattern(_ seed: Int, count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ ($0 >> 9) &+ seed) }
  }

  /// Writes `bytes` at `offset` of `path` (creating it), leaving holes.
  private func write(_ path: String, _ bytes: [UInt8], at offset: Int, size: Int? = nil) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw Errno(errno) }
    defer { close(fd) }
    if !bytes.isEmpty {
      let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(offset)) }
      guard n == bytes.count else { throw Errno(EIO) }
    }
    if let size { guard ftruncate(fd, off_t(size)) == 0 else { throw Errno(errno) } }
  }

  /// Far offset of the sparse file: past 64 MiB, so 1 KiB blocks need triple indirection.
  private let farOffset = 80 << 20
  private let farBytes = Array("TRIPLE-INDIRECT!".utf8)
  private let slowTarget = String(repeating: "long/", count: 40)  // 200 bytes
  private let bigDirectoryNames = 3000

  /// The tree every image is made from.
  private func makeSource() throws -> String {
    let src = directory + "/src"
    try FileManager.default.createDirectory(
      atPath: src + "/sub/deeper", withIntermediateDirectories: true)
    try write(src + "/empty", [], at: 0)
    try write(src + "/small", Array("hello, ext2\n".utf8), at: 0)
    // 5 MiB with a hole in the middle: direct, indirect and double-indirect blocks.
    try write(src + "/holey", pattern(1, count: 1 << 20), at: 0)
    try write(src + "/holey", pattern(2, count: 1 << 20), at: 4 << 20)
    // Bytes far out: triple indirection with 1 KiB blocks.
    try write(src + "/far", farBytes, at: farOffset)
    try write(src + "/sub/deeper/leaf", pattern(3, count: 70_000), at: 0)
    try FileManager.default.createDirectory(
      atPath: src + "/big", withIntermediateDirectories: false)
    for i in 0..<bigDirectoryNames {
      try write(src + "/big/" + String(format: "name-%05d", i), [], at: 0)
    }
    guard symlink("small", src + "/fast") == 0, symlink(slowTarget, src + "/slow") == 0 else {
      throw Errno(errno)
    }
    guard link(src + "/small", src + "/hardlink") == 0 else { throw Errno(errno) }
    // Device numbers: old 8:8 encoding, and the new one (major > 255, wide minor).
    func dev(_ major: UInt32, _ minor: UInt32) throws -> dev_t {
      dev_t(try DevT(major: major, minor: minor).userEncoding)
    }
    guard mknod(src + "/chr", S_IFCHR | 0o640, try dev(1, 7)) == 0,
      mknod(src + "/blk", S_IFBLK | 0o600, try dev(8, 3)) == 0,
      mknod(src + "/newchr", S_IFCHR | 0o600, try dev(300, 70000)) == 0,
      mkfifo(src + "/fifo", 0o644) == 0
    else { throw Errno(errno) }
    try ext2Run(
      "/usr/bin/python3",
      [
        "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
        src + "/sock",
      ])
    // Owners (with high 16 bits), modes, xattrs, an ACL.
    guard chown(src + "/small", 1234, 5678) == 0, chown(src + "/holey", 100_000, 200_000) == 0,
      lchown(src + "/slow", 4321, 8765) == 0, chmod(src + "/holey", 0o4750) == 0,
      chmod(src + "/sub", 0o1777) == 0
    else { throw Errno(errno) }
    try ext2Run("/usr/bin/setfattr", ["-n", "user.color", "-v", "blue", src + "/small"])
    try ext2Run(
      "/usr/bin/setfattr",
      ["-n", "user.long", "-v", String(repeating: "x", count: 300), src + "/holey"])
    try ext2Run("/usr/bin/setfattr", ["-n", "trusted.note", "-v", "root-only", src + "/sub"])
    try ext2Run("/usr/bin/setfacl", ["-m", "u:1234:rw,g:77:r", src + "/empty"])
    // A known mtime (seconds; mke2fs -d copies no nanoseconds).
    var times = [
      timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_500_000_000, tv_nsec: 0),
    ]
    guard utimensat(AT_FDCWD, src + "/small", &times, 0) == 0 else { throw Errno(errno) }
    return src
  }

  /// An image of `src` with these block and inode sizes; with 256-byte
  /// inodes, /small gets mtime nanoseconds through debugfs. Directories get
  /// htree indexes from `e2fsck -fD`.
  private func makeImage(_ src: String, blockSize: Int, inodeSize: Int, name: String) throws
    -> String
  {
    let image = directory + "/" + name
    try ext2Run(
      "/usr/sbin/mke2fs",
      [
        "-q", "-F", "-t", "ext2", "-b", "\(blockSize)", "-I", "\(inodeSize)", "-d", src, image,
        "16M",
      ])
    // -D indexes directories (exit 1: "file system modified").
    try ext2Run("/usr/sbin/e2fsck", ["-fyD", image], allowFailure: true)
    if inodeSize > 128 {
      // mtime_extra: nanoseconds << 2 (ext4_encode_extra_time()).
      try ext2Run(
        "/usr/sbin/debugfs", ["-w", "-R", "sif small mtime_extra \(123_456_789 << 2)", image])
    }
    try ext2Run("/usr/sbin/e2fsck", ["-fn", image])  // still clean
    return image
  }

  private func mount(_ image: String, options: String = "") throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(Ext2FileSystem())
    // Read-only: these tests check what was read; Ext2WriteTests writes.
    let text = options.isEmpty ? "source=\(image),ro" : "source=\(image),ro,\(options)"
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: text))
    return vfs
  }

  // MARK: - VFS helpers (public API only)

  private func lookup(_ vfs: VFS, _ path: String) throws -> Inode {
    var inode = vfs.root
    for part in path.split(separator: "/") {
      let next = try vfs.lookup(inode, FileName(String(part)))
      vfs.forget(next.ino, count: 1)
      inode = next
    }
    return inode
  }

  private func names(_ vfs: VFS, _ dir: Inode) throws -> [(String, DirEntry)] {
    let (fh, file) = try vfs.open(dir, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    var out: [(String, DirEntry)] = []
    var offset: Int64 = 0
    var done = false
    // Small batches, so resuming from a cookie is exercised.
    for _ in 0..<100_000 where !done {
      var batch = 0
      try vfs.readdir(file, from: offset) { entry in
        out.append((entry.name.description, entry))
        offset = entry.offset
        batch += 1
        return batch < 7
      }
      done = batch < 7
    }
    return out
  }

  // MARK: - Comparing with the source

  /// Compares the mounted tree with the source, path by path.
  private func compareTree(_ vfs: VFS, _ src: String, nanoseconds: Bool) throws {
    var checked = 0
    var pending = [""]
    while let rel = pending.popLast() {
      let inode = try lookup(vfs, rel)
      let srcPath = src + rel
      var st = stat()
      XCTAssertEqual(lstat(srcPath, &st), 0, srcPath)
      let got = try vfs.getattr(inode)
      XCTAssertEqual(got.mode, st.st_mode, "mode of \(rel)")
      if !rel.isEmpty { XCTAssertEqual(got.nlink, UInt32(st.st_nlink), "nlink of \(rel)") }
      XCTAssertEqual(got.uid, st.st_uid, "uid of \(rel)")
      XCTAssertEqual(got.gid, st.st_gid, "gid of \(rel)")
      if st.st_mode & S_IFMT != S_IFDIR {
        XCTAssertEqual(got.size, Int64(st.st_size), "size of \(rel)")
        XCTAssertEqual(got.mtime.sec, Int64(st.st_mtim.tv_sec), "mtime of \(rel)")
      }
      if rel == "/small" {
        XCTAssertEqual(got.mtime.nsec, nanoseconds ? 123_456_789 : 0, "mtime ns of /small")
      }
      checked += 1
      switch st.st_mode & S_IFMT {
      case S_IFDIR:
        let listed = try names(vfs, inode)
        let ours = Set(listed.map(\.0)).subtracting([".", ".."])
        var theirs = Set(try FileManager.default.contentsOfDirectory(atPath: srcPath))
        if rel.isEmpty { theirs.insert("lost+found") }
        XCTAssertEqual(ours, theirs, "names in \(rel)/")
        XCTAssertEqual(listed.count, ours.count + 2, "each name once, with . and .. in \(rel)/")
        try compareXattrs(vfs, inode, srcPath)
        for (name, entry) in listed where name != "." && name != ".." {
          if let entryInode = entry.inode {
            XCTAssertEqual(entry.ino, try vfs.getattr(entryInode).ino, "d_ino of \(name)")
          }
          if name != "lost+found" { pending.append(rel + "/" + name) }
        }
      case S_IFREG:
        if rel == "/far" {
          XCTAssertEqual(
            try readBytes(vfs, inode, at: Int64(farOffset), count: 64), farBytes, "far bytes")
          XCTAssertEqual(
            try readBytes(vfs, inode, at: Int64(farOffset - 4096), count: 4096),
            [UInt8](repeating: 0, count: 4096), "hole before the far bytes")
        } else {
          let expected = Array(try XCTUnwrap(FileManager.default.contents(atPath: srcPath)))
          XCTAssertEqual(
            try readBytes(vfs, inode, at: 0, count: expected.count + 10), expected, "data of \(rel)"
          )
        }
        try compareXattrs(vfs, inode, srcPath)
      case S_IFLNK:
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(srcPath, &buffer, buffer.count)
        let expected = buffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }
        XCTAssertEqual(try vfs.readlink(inode), expected, "target of \(rel)")
      case S_IFCHR, S_IFBLK:
        XCTAssertEqual(got.rdev.userEncoding, UInt64(st.st_rdev), "rdev of \(rel)")
      default:
        break  // fifo, socket: type and mode compared above
      }
    }
    XCTAssertEqual(checked, bigDirectoryNames + 17, "every path visited")
  }

  /// The source's xattrs (ACLs included) as `getfattr -d -m - -e hex` dumps them.
  private func sourceXattrs(_ path: String) throws -> [String: [UInt8]] {
    let text = try ext2Run(
      "/usr/bin/getfattr", ["-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", path])
    var out: [String: [UInt8]] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      let hex = Array(line[line.index(eq, offsetBy: 3)...])  // after "=0x"
      out[String(line[..<eq])] = stride(from: 0, to: hex.count - 1, by: 2).compactMap {
        UInt8(String(hex[$0...$0 + 1]), radix: 16)
      }
    }
    return out
  }

  private func compareXattrs(_ vfs: VFS, _ inode: Inode, _ srcPath: String) throws {
    // The 3,000 empty names have none: not one getfattr each.
    let expected = srcPath.contains("/big/") ? [:] : try sourceXattrs(srcPath)
    let got = try vfs.listxattr(inode, cred: .root)
    XCTAssertEqual(Set(got), Set(expected.keys), "xattr names of \(srcPath)")
    for (name, value) in expected {
      XCTAssertEqual(try vfs.getxattr(inode, name, cred: .root), value, "\(name) of \(srcPath)")
    }
  }

  private func checkImage(blockSize: Int, inodeSize: Int) throws {
    let src = try makeSource()
    let image = try makeImage(src, blockSize: blockSize, inodeSize: inodeSize, name: "t.img")
    // The 3,000-name directory is an htree directory now.
    let htree = try ext2Run("/usr/sbin/debugfs", ["-R", "htree big", image], allowFailure: true)
    XCTAssertTrue(htree.contains("Root node dump"), "big/ is hash-indexed")
    let vfs = try mount(image)
    try compareTree(vfs, src, nanoseconds: inodeSize > 128)
    // The disk's inode numbers as st_ino.
    XCTAssertEqual(try vfs.getattr(vfs.root).ino, 2)
    XCTAssertEqual(try vfs.getattr(try lookup(vfs, "lost+found")).ino, 11)
    XCTAssertEqual(
      try vfs.getattr(try lookup(vfs, "small")).ino,
      try vfs.getattr(try lookup(vfs, "hardlink")).ino)
    XCTAssertTrue(
      try lookup(vfs, "small") === (try lookup(vfs, "hardlink")), "one inode for two links")
    // Sparse: the holes hold no blocks.
    XCTAssertLessThan(try vfs.getattr(try lookup(vfs, "far")).blocks, 64)
    // Read-only: every change is EROFS.
    XCTAssertEqual(
      errnoOf { _ = try vfs.mkdir(vfs.root, "new", mode: 0o755, cred: .root) }, .EROFS)
    XCTAssertEqual(
      errnoOf { _ = try vfs.open(try self.lookup(vfs, "small"), flags: O_RDWR, cred: .root) },
      .EROFS)
    XCTAssertEqual(errnoOf { try vfs.unlink(vfs.root, "small") }, .EROFS)
  }

  func testOneKiBBlocks256ByteInodes() throws { try checkImage(blockSize: 1024, inodeSize: 256) }
  func testOneKiBBlocks128ByteInodes() throws { try checkImage(blockSize: 1024, inodeSize: 128) }
  func testFourKiBBlocks256ByteInodes() throws { try checkImage(blockSize: 4096, inodeSize: 256) }

  func testMissingNameAndDirectoryErrors() throws {
    let src = try makeSource()
    let vfs = try mount(try makeImage(src, blockSize: 1024, inodeSize: 256, name: "e.img"))
    XCTAssertEqual(errnoOf { _ = try vfs.lookup(vfs.root, "absent") }, .ENOENT)
    XCTAssertEqual(errnoOf { _ = try vfs.lookup(try self.lookup(vfs, "small"), "x") }, .ENOTDIR)
    XCTAssertEqual(errnoOf { _ = try vfs.readlink(try self.lookup(vfs, "small")) }, .EINVAL)
    XCTAssertEqual(
      errnoOf { _ = try vfs.getxattr(try self.lookup(vfs, "small"), "user.none", cred: .root) },
      .ENODATA)
    // A readdir resumed from every cookie lists the rest exactly once.
    let all = try names(vfs, vfs.root)
    let (fh, file) = try vfs.open(vfs.root, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    for (i, entry) in all.enumerated() {
      var rest: [String] = []
      try vfs.readdir(file, from: entry.1.offset) { e in
        rest.append(e.name.description)
        return true
      }
      XCTAssertEqual(rest, all[(i + 1)...].map(\.0))
    }
  }

  /// A listing of names (`inodes: false`, as FUSE READDIR asks) gives the
  /// same entries, numbers, types and cookies as a full one, from any
  /// cookie; it leaves out the inodes of typed non-directories only.
  func testNameListingMatchesFullListing() throws {
    let src = try makeSource()
    let vfs = try mount(try makeImage(src, blockSize: 1024, inodeSize: 256, name: "n.img"))
    for path in ["", "big", "sub"] {
      let dir = try lookup(vfs, path)
      let (fh, file) = try vfs.open(dir, flags: O_RDONLY, cred: .root)
      defer { vfs.release(fh) }
      func list(from offset: Int64, inodes: Bool) throws -> [DirEntry] {
        var out: [DirEntry] = []
        try vfs.readdir(file, from: offset, inodes: inodes) {
          out.append($0)
          return true
        }
        return out
      }
      let full = try list(from: 0, inodes: true)
      XCTAssertGreaterThan(full.count, 2, path)
      // From every cookie of a small directory, from about 40 of a big one.
      let step = max(1, full.count / 40)
      let cookies = stride(from: 0, to: full.count, by: step).map { full[$0].offset }
      for start in [Int64(0)] + cookies {
        let names = try list(from: start, inodes: false)
        let all = try list(from: start, inodes: true)
        XCTAssertEqual(names.map(\.name), all.map(\.name), "\(path) from \(start)")
        XCTAssertEqual(names.map(\.ino), all.map(\.ino), "\(path) from \(start)")
        XCTAssertEqual(names.map(\.type), all.map(\.type), "\(path) from \(start)")
        XCTAssertEqual(names.map(\.offset), all.map(\.offset), "\(path) from \(start)")
        for (n, a) in zip(names, all) where !n.name.isDotOrDotDot {
          XCTAssertNotNil(a.inode, "\(path)/\(a.name)")
          if n.type == .directory || n.type == .characterDevice {
            XCTAssertTrue(n.inode === a.inode, "\(path)/\(n.name) keeps its inode")
          } else {
            XCTAssertNil(n.inode, "\(path)/\(n.name) needs no inode")
          }
        }
      }
    }
    // The root holds every type, so each branch above ran.
    let types = Set(try names(vfs, vfs.root).map(\.1.type))
    XCTAssertTrue(
      types.isSuperset(of: [.regular, .directory, .symlink, .characterDevice, .blockDevice, .fifo]))
  }

  // MARK: - statfs and the report against dumpe2fs

  private func dumpe2fsField(_ text: String, _ label: String) -> String? {
    text.split(separator: "\n").first { $0.hasPrefix(label + ":") }.map {
      $0.dropFirst(label.count + 1).trimmingCharacters(in: .whitespaces)
    }
  }

  func testStatfsAndReportMatchDumpe2fs() throws {
    let src = try makeSource()
    for (blockSize, name) in [(1024, "s1.img"), (4096, "s4.img")] {
      let image = try makeImage(src, blockSize: blockSize, inodeSize: 256, name: name)
      let dump = try ext2Run("/usr/sbin/dumpe2fs", ["-h", image])
      let vfs = try mount(image)
      let st = vfs.statfs(vfs.root)
      XCTAssertEqual(st.blockSize, UInt64(blockSize))
      XCTAssertEqual("\(st.blocksFree)", dumpe2fsField(dump, "Free blocks"))
      XCTAssertEqual("\(st.filesFree)", dumpe2fsField(dump, "Free inodes"))
      XCTAssertEqual("\(st.files)", dumpe2fsField(dump, "Inode count"))
      let reserved = try XCTUnwrap(UInt64(dumpe2fsField(dump, "Reserved block count") ?? ""))
      XCTAssertEqual(st.blocksAvailable, st.blocksFree - reserved)
      XCTAssertEqual(st.nameMax, 255)
      let report = try XCTUnwrap(Ext2FileSystem.report(vfs.rootSuperBlock))
      for label in [
        "Filesystem UUID", "Filesystem features", "Filesystem state", "Inode count", "Block count",
        "Free blocks", "Free inodes", "Block size", "Blocks per group", "Inodes per group",
        "Inode blocks per group", "Mount count", "Maximum mount count", "First inode",
        "Default mount options", "Reserved block count",
      ] {
        XCTAssertEqual(dumpe2fsField(report, label), dumpe2fsField(dump, label), label)
      }
      XCTAssertEqual(dumpe2fsField(report, "Block groups"), blockSize == 1024 ? "2" : "1")
      XCTAssertEqual(Ext2FileSystem.featureDecision(vfs.rootSuperBlock), .readWrite)
    }
  }

  /// The report is what /proc/vfs/superblocks shows while mounted, under a
  /// line naming the loop device; the image is loop0 in /proc/partitions
  /// and /dev until the unmount.
  func testReportAndLoopDeviceInProc() throws {
    let image = try makeImage(try makeSource(), blockSize: 4096, inodeSize: 256, name: "p.img")
    let vfs = try mount(image)
    try vfs.mountDevAndProc()
    func read(_ path: String) throws -> String {
      let inode = try lookup(vfs, path)
      defer { vfs.forget(inode.ino, count: 1) }
      let (fh, file) = try vfs.open(inode, flags: O_RDONLY, cred: .root)
      defer { vfs.release(fh) }
      var text: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 65536)
      while true {
        let n = try buffer.withUnsafeMutableBytes {
          try vfs.read(file, into: $0, at: Int64(text.count))
        }
        if n == 0 { break }
        text += buffer[0..<n]
      }
      return String(decoding: text, as: UTF8.self)
    }
    let shown = try read("proc/vfs/superblocks")
    let report = try XCTUnwrap(Ext2FileSystem.report(vfs.rootSuperBlock))
    XCTAssertEqual(shown, "ext2 on loop0 (\(image))\n" + report + "\n")
    XCTAssertTrue(try read("proc/partitions").hasSuffix("   7        0      16384 loop0\n"))
    let node = try lookup(vfs, "dev/loop0")
    defer { vfs.forget(node.ino, count: 1) }
    XCTAssertEqual(node.type, .blockDevice)
    vfs.unmountAll()
    XCTAssertEqual(try read("proc/vfs/superblocks"), "no disk file system mounted\n")
    XCTAssertEqual(try read("proc/partitions"), "major minor  #blocks  name\n\n")
  }

  // MARK: - Refused mounts

  /// A copy of `image` with `bytes` written at `offset`.
  private func patched(_ image: String, _ name: String, at offset: Int, _ bytes: [UInt8]) throws
    -> String
  {
    var data = Array(try XCTUnwrap(FileManager.default.contents(atPath: image)))
    data.replaceSubrange(offset..<offset + bytes.count, with: bytes)
    let path = directory + "/" + name
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(data)))
    return path
  }

  private func le32(_ v: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
  }

  func testMountRefusals() throws {
    let src = directory + "/tiny"
    try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
    try write(src + "/a", Array("a".utf8), at: 0)
    let image = directory + "/tiny.img"
    try ext2Run(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "1024", "-d", src, image, "4M"])
    let data = Array(try XCTUnwrap(FileManager.default.contents(atPath: image)))
    let incompat = UInt32(data[1024 + 96]) | UInt32(data[1024 + 97]) << 8
    let roCompat = UInt32(data[1024 + 100]) | UInt32(data[1024 + 101]) << 8
    func mountError(_ path: String) -> Errno? { errnoOf { _ = try self.mount(path) } }

    XCTAssertNil(mountError(image))
    XCTAssertEqual(
      mountError(try patched(image, "magic.img", at: 1024 + 56, [0x53, 0xEE])), .EINVAL)
    // Unknown INCOMPAT bits, and RECOVER (a journal to replay), refuse the mount.
    XCTAssertEqual(
      mountError(try patched(image, "inc.img", at: 1024 + 96, le32(incompat | 0x0100))), .EINVAL)
    XCTAssertEqual(
      mountError(try patched(image, "rec.img", at: 1024 + 96, le32(incompat | 0x0004))), .EINVAL)
    // Unknown RO_COMPAT: mounts, read-only, and the decision says so.
    let ro = try patched(image, "ro.img", at: 1024 + 100, le32(roCompat | 0x1000))
    let vfs = try mount(ro)
    XCTAssertEqual(
      Ext2FileSystem.featureDecision(vfs.rootSuperBlock), .readOnlyOnly(unknownROCompat: 0x1000))
    XCTAssertEqual(try readBytes(vfs, try lookup(vfs, "a"), at: 0, count: 10), Array("a".utf8))
    // Block size 8 KiB (log 3) and absurd geometry are EINVAL.
    XCTAssertEqual(mountError(try patched(image, "log.img", at: 1024 + 24, le32(3))), .EINVAL)
    XCTAssertEqual(mountError(try patched(image, "ipg.img", at: 1024 + 40, le32(0))), .EINVAL)
    XCTAssertEqual(mountError(try patched(image, "bc.img", at: 1024 + 4, le32(1 << 30))), .EINVAL)
    // A too-small image, no source, a missing file.
    let short = directory + "/short2.img"
    XCTAssertTrue(FileManager.default.createFile(atPath: short, contents: Data(data[0..<1500])))
    XCTAssertEqual(mountError(short), .EINVAL)
    XCTAssertEqual(mountError(directory + "/nope.img"), .ENOENT)
    let bare = VFS()
    try bare.filesystems.register(Ext2FileSystem())
    XCTAssertEqual(errnoOf { try bare.mount("ext2", at: "/", options: MountOptions()) }, .EINVAL)
  }

  // MARK: - Damaged images

  /// Block numbers of metadata worth damaging: the group descriptors, the
  /// first inode-table blocks, directory blocks and indirect blocks.
  private func metadataBlocks(_ image: String) throws -> [Int] {
    var blocks = [2]  // the group descriptors (1 KiB blocks)
    let dump = try ext2Run("/usr/sbin/dumpe2fs", [image])
    for line in dump.split(separator: "\n") where line.contains("Inode table at") {
      let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
      if let first = numbers.first { blocks += (first..<first + 8).map { $0 } }
    }
    for path in ["/", "/dir", "/dir/sub", "/file", "/slow"] {
      let stat = try ext2Run("/usr/sbin/debugfs", ["-R", "stat \(path)", image])
      // The xattr block ("File ACL: N"), where there is one.
      if let acl = stat.range(of: "File ACL: "),
        let block = Int(stat[acl.upperBound...].prefix { $0.isNumber }), block != 0
      {
        blocks.append(block)
      }
      guard let range = stat.range(of: "BLOCKS:") else { continue }
      for token in stat[range.upperBound...].split(whereSeparator: { " \n,".contains($0) }) {
        // "(0-11):1234-1245", "(IND):1300", "(12-30):1301-1319"
        guard let colon = token.firstIndex(of: ":") else { continue }
        let span = token[token.index(after: colon)...].split(separator: "-").compactMap { Int($0) }
        if let start = span.first { blocks += (start...(span.last ?? start)).prefix(4) }
      }
    }
    return blocks
  }

  /// Walks the whole tree, reading everything; every step either works or
  /// throws an Errno. Bounded: each inode once, at most 5,000 steps.
  private func walk(_ vfs: VFS) -> (ok: Int, failed: Int) {
    var ok = 0
    var failed = 0
    var steps = 0
    var seen = Set<ObjectIdentifier>()
    var pending = [vfs.root]
    func attempt(_ body: () throws -> Void) {
      do {
        try body()
        ok += 1
      } catch is Errno {
        failed += 1
      } catch {
        XCTFail("not an Errno: \(error)")
      }
    }
    while let inode = pending.popLast(), steps < 5000 {
      steps += 1
      guard seen.insert(ObjectIdentifier(inode)).inserted else { continue }
      attempt { _ = try vfs.getattr(inode) }
      attempt {
        for name in try vfs.listxattr(inode, cred: .root) {
          _ = try? vfs.getxattr(inode, name, cred: .root)
        }
      }
      switch inode.type {
      case .directory:
        attempt {
          let (fh, file) = try vfs.open(inode, flags: O_RDONLY, cred: .root)
          defer { vfs.release(fh) }
          var names: [FileName] = []
          try vfs.readdir(file, from: 0) { entry in
            if !entry.name.isDotOrDotDot { names.append(entry.name) }
            return names.count < 2000
          }
          for name in names {
            attempt {
              let child = try vfs.lookup(inode, name)
              vfs.forget(child.ino, count: 1)
              pending.append(child)
            }
          }
        }
      case .regular:
        attempt {
          let size = try vfs.getattr(inode).size
          _ = try readBytes(vfs, inode, at: 0, count: Int(min(size, 1 << 20)))
          _ = try readBytes(vfs, inode, at: max(0, size - 100), count: 100)
        }
      case .symlink:
        attempt { _ = try vfs.readlink(inode) }
      default:
        break
      }
    }
    return (ok, failed)
  }

  /// Damage placed by hand gives the errno the kernel's ext2 gives, and
  /// only for the damaged part.
  func testTargetedDamage() throws {
    let src = directory + "/td"
    try FileManager.default.createDirectory(atPath: src + "/dir", withIntermediateDirectories: true)
    try write(src + "/file", pattern(5, count: 40_000), at: 0)
    try write(src + "/dir/a", Array("a".utf8), at: 0)
    try write(src + "/dir/b", Array("b".utf8), at: 0)
    try write(src + "/other", Array("intact".utf8), at: 0)
    let image = directory + "/td.img"
    try ext2Run(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "1024", "-d", src, image, "4M"])
    func firstNumber(after label: String, in text: String) -> Int? {
      guard let range = text.range(of: label) else { return nil }
      return text[range.upperBound...].split(whereSeparator: { !$0.isNumber }).first.flatMap {
        Int($0)
      }
    }
    let dirBlock = try XCTUnwrap(
      Int(
        try ext2Run("/usr/sbin/debugfs", ["-R", "blocks /dir", image]).split(separator: " ").first
          ?? ""))
    let indirect = try XCTUnwrap(
      firstNumber(
        after: "(IND):", in: try ext2Run("/usr/sbin/debugfs", ["-R", "stat /file", image])))
    // rec_len 5 in the directory's first record ("."): Eshort.
    var damaged = try patched(image, "td1.img", at: dirBlock * 1024 + 4, [5, 0])
    // The first pointer of the indirect block points past the end of the disk.
    damaged = try patched(damaged, "td2.img", at: indirect * 1024, le32(0xFFFF_FF00))
    // b's inode is cleared: an entry names a deleted inode.
    let inodeB = try XCTUnwrap(
      firstNumber(
        after: "Inode:", in: try ext2Run("/usr/sbin/debugfs", ["-R", "stat /dir/b", image])))
    try ext2Run("/usr/sbin/debugfs", ["-w", "-R", "clri <\(inodeB)>", damaged])

    let vfs = try mount(damaged)
    let dir = try lookup(vfs, "dir")
    let corrupted = Errno(117)  // EUCLEAN, "EXT2-fs error"
    XCTAssertEqual(errnoOf { _ = try self.names(vfs, dir) }, corrupted)
    XCTAssertEqual(errnoOf { _ = try vfs.lookup(dir, "a") }, corrupted)
    let file = try lookup(vfs, "file")
    XCTAssertEqual(try readBytes(vfs, file, at: 0, count: 12 * 1024), pattern(5, count: 12 * 1024))
    XCTAssertEqual(errnoOf { _ = try readBytes(vfs, file, at: 12 * 1024, count: 10) }, corrupted)
    XCTAssertEqual(
      try readBytes(vfs, try lookup(vfs, "other"), at: 0, count: 100), Array("intact".utf8))

    // The deleted inode alone, on an image whose directory is intact.
    let cleared = try patched(image, "td3.img", at: 0, [])
    try ext2Run("/usr/sbin/debugfs", ["-w", "-R", "clri <\(inodeB)>", cleared])
    let vfs2 = try mount(cleared)
    let dir2 = try lookup(vfs2, "dir")
    XCTAssertEqual(errnoOf { _ = try vfs2.lookup(dir2, "b") }, .EIO, "deleted inode referenced")
    XCTAssertEqual(
      try readBytes(vfs2, try lookup(vfs2, "dir/a"), at: 0, count: 10), Array("a".utf8))
  }

  /// 128-byte inodes: xattrs in a block.
  func testCorruptImagesNeverCrash128ByteInodes() throws {
    try fuzz(inodeSize: 128, seed: 0x5EED_E472)
  }

  /// 256-byte inodes: xattrs and nanoseconds in the inode body.
  func testCorruptImagesNeverCrash256ByteInodes() throws {
    try fuzz(inodeSize: 256, seed: 0x5EED_0256)
  }

  /// Mounts and walks 200 seeded, damaged copies of a small image.
  private func fuzz(inodeSize: Int, seed: UInt64) throws {
    let src = directory + "/fz"
    try FileManager.default.createDirectory(
      atPath: src + "/dir/sub", withIntermediateDirectories: true)
    try write(src + "/file", pattern(9, count: 300_000), at: 0)
    for i in 0..<60 { try write(src + "/dir/entry-\(i)", Array("\(i)".utf8), at: 0) }
    try write(src + "/dir/sub/inner", pattern(4, count: 5000), at: 0)
    guard symlink("file", src + "/fast") == 0, symlink(slowTarget, src + "/slow") == 0 else {
      throw Errno(errno)
    }
    try ext2Run("/usr/bin/setfattr", ["-n", "user.a", "-v", "1", src + "/file"])
    let image = directory + "/fz.img"
    try ext2Run(
      "/usr/sbin/mke2fs",
      ["-q", "-F", "-t", "ext2", "-b", "1024", "-I", "\(inodeSize)", "-d", src, image, "2M"])
    let base = Array(try XCTUnwrap(FileManager.default.contents(atPath: image)))
    let clean = walk(try mount(image))
    XCTAssertEqual(clean.failed, 0, "the undamaged image reads without errors")

    var blocks = try metadataBlocks(image)
    blocks = blocks.filter { $0 > 1 && ($0 + 1) * 1024 <= base.count }
    XCTAssertGreaterThan(blocks.count, 10)
    if inodeSize == 128 {
      let stat = try ext2Run("/usr/sbin/debugfs", ["-R", "stat /file", image])
      XCTAssertFalse(stat.contains("File ACL: 0"), "/file has an xattr block to damage")
    }
    var rng = SeededGenerator(state: seed)
    let path = directory + "/fz-mut.img"
    var mounted = 0
    var refused = 0
    var iterations = 0
    var errors = 0
    var steps = 0
    while iterations < 200 {  // a fixed count: the same images on every run
      iterations += 1
      var data = base
      let hits = Int.random(in: 1...8, using: &rng)
      for _ in 0..<hits {
        let offset: Int
        if Int.random(in: 0..<4, using: &rng) == 0 {
          // The superblock, except its magic (a bad magic is tested above).
          var o = 1024 + Int.random(in: 0..<264, using: &rng)
          if o == 1024 + 56 || o == 1024 + 57 { o = 1024 + 4 }
          offset = o
        } else {
          let block = blocks[Int.random(in: 0..<blocks.count, using: &rng)]
          offset = block * 1024 + Int.random(in: 0..<1024, using: &rng)
        }
        data[offset] = UInt8.random(in: 0...255, using: &rng)
      }
      XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(data)))
      let vfs: VFS
      do {
        vfs = try mount(path)
      } catch is Errno {
        refused += 1
        continue
      }
      mounted += 1
      let result = walk(vfs)
      errors += result.failed
      steps += result.ok
    }
    print(
      "ext2 fuzz: \(iterations) images, \(mounted) mounted, \(refused) refused, \(errors) step errors, \(steps) steps ok"
    )
    XCTAssertGreaterThan(mounted, 0, "some damaged images mount and are walked")
    XCTAssertGreaterThan(refused, 0, "some damaged superblocks or descriptors refuse the mount")
    XCTAssertGreaterThan(errors, 0, "some damage is found while walking (EUCLEAN/EIO)")
  }
}
