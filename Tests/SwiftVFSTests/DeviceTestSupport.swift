import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The Errno a throwing call ends with, or nil if it returned (EIO for an
/// error that is not an Errno, which no VFS call throws).
func devThrown<T, E: Error>(_ body: () throws(E) -> T) -> Errno? {
  do {
    _ = try body()
    return nil
  } catch {
    return (error as Error) as? Errno ?? .EIO
  }
}

/// A VFS as vfsmount builds it: memfs at /, devtmpfs at /dev with the
/// built-in devices.
func devStandardVFS() throws -> VFS {
  try VFS.standard(options: MountOptions())
}

extension VFS {
  /// The inode at an absolute path (each step adds a lookup, as the kernel's would).
  func devResolve(_ path: String) throws(Errno) -> Inode {
    var inode = root
    for part in path.split(separator: "/") {
      inode = try lookup(inode, try FileName(String(part)))
    }
    return inode
  }

  /// Opens a path; the caller releases the handle.
  func devOpen(_ path: String, _ flags: Int32, cred: Cred = .root) throws(Errno) -> (UInt64, File) {
    try open(try devResolve(path), flags: flags, cred: cred)
  }

  /// Reads up to `count` bytes at `offset`.
  func devRead(_ file: File, count: Int, at offset: Int64 = 0) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0xAA, count: count)
    let n = try bytes.withUnsafeMutableBytes { buf in try read(file, into: buf, at: offset) }
    return Array(bytes.prefix(n))
  }

  func devWrite(_ file: File, _ bytes: [UInt8], at offset: Int64 = 0) throws -> Int {
    try bytes.withUnsafeBytes { buf in try write(file, from: buf, at: offset) }
  }

  func devWrite(_ file: File, _ text: String, at offset: Int64 = 0) throws -> Int {
    try devWrite(file, Array(text.utf8), at: offset)
  }

  func devIoctl(
    _ file: File, _ command: UInt32, argument: UInt64 = 0, input: [UInt8] = [], outputSize: Int = 0
  ) throws -> (result: Int32, output: [UInt8]) {
    try input.withUnsafeBytes { buf in
      try ioctl(file, command: command, argument: argument, input: buf, outputSize: outputSize)
    }
  }

  /// mknod at an absolute path; drops the lookup mknod holds.
  func devMknod(_ path: String, _ type: FileType, _ dev: DevT, mode: UInt32 = 0o666) throws(Errno) {
    let parts = path.split(separator: "/")
    let dir = try devResolve(parts.dropLast().joined(separator: "/"))
    let inode = try mknod(
      dir, try FileName(String(parts.last!)), mode: type.rawValue | mode, rdev: dev, cred: .root)
    forget(inode.ino, count: 1)
  }
}
