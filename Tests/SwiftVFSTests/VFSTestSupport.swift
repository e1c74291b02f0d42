import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// A VFS with memfs at `/`, and helpers that call the `VFS` facade the way the
/// FUSE bridge does, leaving no lookup or open count behind unless asked to.
final class MemfsHarness: @unchecked Sendable {
  let vfs: VFS

  init(options: String? = nil, dcacheCapacity: Int = Dcache.defaultCapacity) throws {
    vfs = VFS(dcacheCapacity: dcacheCapacity)
    try vfs.filesystems.register(MemfsType())
    let parsed = try options.flatMap { text throws(Errno) in
      text.isEmpty ? nil : try MountOptions(parsing: text)
    }
    try vfs.mount("memfs", at: "/", options: parsed ?? MountOptions())
  }

  var root: Inode { vfs.root }
  var sb: SuperBlock { vfs.rootSuperBlock }

  /// Walks a path from the root without holding lookups (like the kernel's
  /// path walk above us, whose own dentries hold the inodes).
  func walk(_ path: String) throws -> Inode {
    var cur = vfs.root
    for part in path.split(separator: "/") {
      cur = try vfs.resolveUnlocked(cur, try FileName(String(part)))
    }
    return cur
  }

  /// Creates a regular file holding `data`; returns its inode with no lookup held.
  @discardableResult
  func file(
    _ dir: Inode, _ name: String, _ data: [UInt8] = [], mode: UInt32 = 0o644, cred: Cred = .root
  ) throws -> Inode {
    let (inode, fh, file) = try vfs.create(
      dir, try FileName(name), mode: mode, flags: Int32(O_RDWR) | OpenFlags.create, cred: cred)
    defer {
      vfs.release(fh)
      vfs.forget(inode.ino, count: 1)
    }
    if !data.isEmpty {
      let n = try data.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
      XCTAssertEqual(n, data.count)
    }
    return inode
  }

  @discardableResult
  func dir(_ parent: Inode, _ name: String, mode: UInt32 = 0o755, cred: Cred = .root) throws
    -> Inode
  {
    let inode = try vfs.mkdir(parent, try FileName(name), mode: mode, cred: cred)
    vfs.forget(inode.ino, count: 1)
    return inode
  }

  @discardableResult
  func symlink(_ parent: Inode, _ name: String, _ target: String) throws -> Inode {
    let inode = try vfs.symlink(parent, try FileName(name), target: Array(target.utf8), cred: .root)
    vfs.forget(inode.ino, count: 1)
    return inode
  }

  @discardableResult
  func link(_ inode: Inode, _ dir: Inode, _ name: String) throws -> Inode {
    let result = try vfs.link(inode, dir, try FileName(name))
    vfs.forget(result.ino, count: 1)
    return result
  }

  /// Opens, writes at `offset`, closes; returns the bytes written.
  @discardableResult
  func write(_ inode: Inode, _ data: [UInt8], at offset: Int64, flags: Int32 = Int32(O_RDWR))
    throws -> Int
  {
    let (fh, file) = try vfs.open(inode, flags: flags, cred: .root)
    defer { vfs.release(fh) }
    return try data.withUnsafeBytes { try vfs.write(file, from: $0, at: offset) }
  }

  func read(_ inode: Inode, at offset: Int64, count: Int) throws -> [UInt8] {
    let (fh, file) = try vfs.open(inode, flags: Int32(O_RDONLY), cred: .root)
    defer { vfs.release(fh) }
    var buffer = [UInt8](repeating: 0xAA, count: count)
    let n = try buffer.withUnsafeMutableBytes { try vfs.read(file, into: $0, at: offset) }
    return Array(buffer[0..<n])
  }

  func readAll(_ inode: Inode) throws -> [UInt8] {
    try read(inode, at: 0, count: Int(stat(inode).size))
  }

  func stat(_ inode: Inode) throws -> Stat { try vfs.getattr(inode) }

  func truncate(_ inode: Inode, _ size: Int64) throws {
    _ = try vfs.setattr(inode, SetAttr(size: size), cred: .root)
  }

  func fallocate(_ inode: Inode, mode: Int32, _ offset: Int64, _ length: Int64) throws {
    let (fh, file) = try vfs.open(inode, flags: Int32(O_RDWR), cred: .root)
    defer { vfs.release(fh) }
    try vfs.fallocate(file, mode: mode, offset: offset, length: length)
  }

  func lseek(_ inode: Inode, _ offset: Int64, _ whence: Int32) throws -> Int64 {
    let (fh, file) = try vfs.open(inode, flags: Int32(O_RDONLY), cred: .root)
    defer { vfs.release(fh) }
    return try vfs.lseek(file, offset: offset, whence: whence)
  }

  /// The names a full readdir lists, without "." and "..".
  func names(_ dir: Inode) throws -> [String] {
    let (fh, file) = try vfs.open(dir, flags: Int32(O_RDONLY), cred: .root)
    defer { vfs.release(fh) }
    var out: [String] = []
    try vfs.readdir(file, from: 0) { entry in
      if !entry.name.isDotOrDotDot { out.append(entry.name.description) }
      return true
    }
    return out
  }

  /// Sets mtime and ctime (and atime) far in the past, so that a later change shows.
  func age(_ inode: Inode) {
    let old = Timestamp(sec: 1000, nsec: 0)
    inode.lock.withLock {
      inode.atime = old
      inode.mtime = old
      inode.ctime = old
    }
  }

  /// Mounts a second memfs on the directory `path` (created if missing).
  @discardableResult
  func mountSecondMemfs(at path: String, options: String? = nil) throws -> SuperBlock {
    if (try? walk(path)) == nil {
      try dir(root, String(path.split(separator: "/").last!))
    }
    let parsed = try options.map { text throws(Errno) in try MountOptions(parsing: text) }
    return try vfs.mount("memfs", at: path, options: parsed ?? MountOptions())
  }
}

/// The errno `body` threw, or nil if it succeeded.
func vtErrno(_ body: () throws -> Void) -> Errno? {
  do {
    try body()
    return nil
  } catch let e as Errno {
    return e
  } catch {
    return Errno(.max)
  }
}

func vtBytes(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) | 1 }
}

let vtUser = Cred(uid: 1000, gid: 1000)

/// A test case whose every test ends with the consistency checker on its VFS.
class MemfsTestCase: XCTestCase {
  var h: MemfsHarness!
  var vfs: VFS { h.vfs }
  var root: Inode { h.root }

  /// Mount options for the root memfs; override per class.
  var mountOptions: String? { nil }

  override func setUpWithError() throws {
    h = try MemfsHarness(options: mountOptions)
  }

  override func tearDown() {
    if let h {
      assertConsistent(h.vfs)
    }
    h = nil
    super.tearDown()
  }
}

/// Runs this target's checker and the VFS's own (`VFS.check`, behind
/// /proc/vfs/check); each must find nothing.
func assertConsistent(_ vfs: VFS, file: StaticString = #filePath, line: UInt = #line) {
  let problems = ConsistencyChecker.check(vfs)
  if !problems.isEmpty {
    XCTFail(
      "consistency checker: \(problems.count) problem(s):\n"
        + problems.prefix(20).joined(separator: "\n"), file: file, line: line)
  }
  let theirs = vfs.check()
  if !theirs.isEmpty {
    XCTFail(
      "VFS.check: \(theirs.count) problem(s):\n" + theirs.prefix(20).joined(separator: "\n"),
      file: file, line: line)
  }
}
