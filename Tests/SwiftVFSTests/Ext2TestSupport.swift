// Helpers the ext2 unit tests share, through the public VFS API only.

import Foundation
import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// Up to `count` bytes of `inode` from `offset`, read through a new open
/// file until the end or the count (fewer at the end of the file).
func readBytes(_ vfs: VFS, _ inode: Inode, at offset: Int64, count: Int) throws -> [UInt8] {
  let (fh, file) = try vfs.open(inode, flags: O_RDONLY, cred: .root)
  defer { vfs.release(fh) }
  var buffer = [UInt8](repeating: 0xAA, count: count)
  var done = 0
  while done < count {
    let n = try buffer.withUnsafeMutableBytes { raw in
      try vfs.read(
        file, into: UnsafeMutableRawBufferPointer(rebasing: raw[done..<count]),
        at: offset + Int64(done))
    }
    if n == 0 { break }
    done += n
  }
  return Array(buffer[0..<done])
}

/// Runs a program; returns its exit status and output (stdout + stderr).
func runTool(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: path)
  process.arguments = arguments
  let out = Pipe()
  process.standardOutput = out
  process.standardError = out
  try process.run()
  let data = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
