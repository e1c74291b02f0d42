// A test's own temporary directory, for disk images and the like.

import Foundation
import SwiftVFS

#if canImport(Glibc)
  import Glibc
#endif

/// A new empty directory under the temporary directory; `remove()` deletes
/// it with all it holds.
struct ScratchDirectory {
  let path: String

  /// Makes `$TMPDIR/PREFIX-XXXXXX`.
  init(_ prefix: String) throws {
    var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw Errno(errno) }
    path = String(cString: made)
  }

  func remove() throws { try FileManager.default.removeItem(atPath: path) }

  /// A zero-filled (sparse) file of `bytes` bytes named `name` in it.
  func makeImage(_ name: String = "disk.img", bytes: Int) throws -> String {
    let image = path + "/" + name
    let fd = open(image, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw Errno(errno) }
    defer { close(fd) }
    guard ftruncate(fd, off_t(bytes)) == 0 else { throw Errno(errno) }
    return image
  }
}

/// The errno `body` threw, nil if it returned (EFAULT for an error that is
/// not an errno, which no check expects: it shows up as a mismatch).
func errnoOf(_ body: () throws -> Void) -> Errno? {
  do {
    try body()
    return nil
  } catch let error as Errno {
    return error
  } catch {
    return Errno(EFAULT)
  }
}
