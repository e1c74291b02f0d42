import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// A standard VFS (memfs at /, devtmpfs at /dev, proc at /proc) driven
/// through the VFS API, as the FUSE bridge drives it, with no mount.
final class ProcHarness {
  let vfs: VFS

  init(options: MountOptions = MountOptions()) throws {
    vfs = try VFS.standard(options: options)
  }

  /// Walks `path` from the root with `vfs.lookup` (each step goes through
  /// the dcache and adds a lookup, given back at once: the inodes of /proc
  /// live as long as their superblock).
  func inode(_ path: String) throws -> Inode {
    var cur = vfs.root
    for part in path.split(separator: "/") {
      let next = try vfs.lookup(cur, try FileName(String(part)))
      vfs.forget(next.ino, count: 1)
      cur = next
    }
    return cur
  }

  /// Opens, reads to the end and releases `inode` (no lookups: the dcache
  /// does not move).
  func read(_ inode: Inode) throws -> String {
    let (fh, file) = try vfs.open(inode, flags: O_RDONLY, cred: .root)
    defer { vfs.release(fh) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 512)
    while true {
      let n = try buffer.withUnsafeMutableBytes { b throws(Errno) in
        try vfs.read(file, into: b, at: Int64(out.count))
      }
      if n == 0 { break }
      out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
  }

  func read(_ path: String) throws -> String { try read(try inode(path)) }

  /// `echo text > path`: open O_WRONLY|O_TRUNC, one write at offset 0, release.
  func write(_ inode: Inode, _ text: String) throws {
    try write(inode, Array(text.utf8))
  }

  func write(_ inode: Inode, _ bytes: [UInt8], at offset: Int64 = 0) throws {
    let (fh, file) = try vfs.open(inode, flags: O_WRONLY | O_TRUNC, cred: .root)
    defer { vfs.release(fh) }
    let n = try bytes.withUnsafeBytes { b throws(Errno) in try vfs.write(file, from: b, at: offset)
    }
    XCTAssertEqual(n, bytes.count)
  }

  /// Makes a regular file `name` in the root holding `text`.
  @discardableResult
  func makeFile(_ name: String, _ text: String = "") throws -> Inode {
    let (inode, fh, file) = try vfs.create(
      vfs.root, try FileName(name), mode: 0o644, flags: O_RDWR, cred: .root)
    defer {
      vfs.release(fh)
      vfs.forget(inode.ino, count: 1)
    }
    let bytes = Array(text.utf8)
    _ = try bytes.withUnsafeBytes { b throws(Errno) in try vfs.write(file, from: b, at: 0) }
    return inode
  }

  /// /proc/vfs/dcache as a name -> value map (hit_ratio without its %).
  func dcacheReport(_ inode: Inode) throws -> [String: String] {
    var out: [String: String] = [:]
    for line in try read(inode).split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      XCTAssertEqual(f.count, 2, "line \(line)")
      if f.count == 2 { out[String(f[0])] = String(f[1]) }
    }
    return out
  }
}

/// The integers of a line of tab-separated numbers (a sysctl file).
func tabbedIntegers(_ text: String) -> [Int]? {
  guard text.hasSuffix("\n") else { return nil }
  let fields = text.dropLast().split(separator: "\t", omittingEmptySubsequences: false)
  let values = fields.compactMap { Int($0) }
  return values.count == fields.count ? values : nil
}

/// Asserts that `body` throws exactly `expected`.
func assertProcErrno<T>(
  _ expected: Errno, _ body: @autoclosure () throws -> T, _ message: String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  do {
    _ = try body()
    XCTFail("no error, expected \(expected) \(message)", file: file, line: line)
  } catch let error as Errno {
    XCTAssertEqual(error, expected, message, file: file, line: line)
  } catch {
    XCTFail("\(error), expected \(expected) \(message)", file: file, line: line)
  }
}
