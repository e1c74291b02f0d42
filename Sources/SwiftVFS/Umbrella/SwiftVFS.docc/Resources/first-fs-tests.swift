import Foundation
import HelloFS
import SwiftVFS
import SwiftVFSTesting
import XCTest

final class HelloFSTests: XCTestCase {
  func testMountedFileSystem() throws {
    let vfs = VFS()
    try vfs.filesystems.register(HelloFS())
    try vfs.mount("hellofs", at: "/", options: MountOptions())

    try withMount(vfs) { path in
      let text = try String(contentsOfFile: path + "/hello", encoding: .utf8)
      XCTAssertEqual(text, "Hello from Swift!\n")
      XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path), ["hello"])
      // Read-only: a write open is EROFS before HelloFile is asked.
      XCTAssertEqual(open(path + "/hello", O_WRONLY), -1)
      XCTAssertEqual(errno, EROFS)
    }
  }
}
