import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// SWIFTVFS_FS=ext2 runs the side-by-side suites on ext2: the vfsmount side is
/// `vfsmount -t ext2 -o bare` on a fresh image and the reference is the kernel's
/// ext2 (`mount -o loop -t ext2`) on another fresh image, instead of memfs and tmpfs.
let testFS: String? = ProcessInfo.processInfo.environment["SWIFTVFS_FS"]

/// Whether the side-by-side suites run on ext2 (SWIFTVFS_FS=ext2).
var testsOnExt2: Bool { testFS == "ext2" }

/// The mount a side-by-side test compares vfsmount with: a tmpfs, or the kernel's ext2.
protocol ReferenceMount: AnyObject {
  /// The mount point.
  var path: String { get }
  /// How failure messages name it ("tmpfs", "kernel ext2").
  var name: String { get }
  /// Unmounts and removes what it made; safe to call more than once.
  func unmount()
}

/// A fresh sparse ext2 image `mkfs.ext2 -q -F -b 4096 -O ^resize_inode` made in `dir`: its path.
func makeExt2Image(in dir: String, name: String, size: String = "256M") throws -> String {
  let image = dir + "/" + name
  // 4 KiB blocks, like the page size the suites expect in st_blksize and statfs.
  // No resize_inode: the ext4 driver that serves -t ext2 here counts its reserved
  // GDT blocks as overhead in statfs, fs/ext2's ext2_statfs() does not, and df
  // would differ by them.
  let r = runCommand(
    "mkfs.ext2", ["-q", "-F", "-b", "4096", "-O", "^resize_inode", image, size], timeout: 60)
  guard r.ok else { throw SupportError("mkfs.ext2 \(image): \(r.stderr)") }
  return image
}

/// `mount -o loop[,options] -t ext2 IMAGE <new temp dir>` on a fresh image of its own
/// (this kernel serves `-t ext2` with the ext4 driver). Unmounting detaches the
/// loop device (mount sets autoclear) and removes the image.
final class KernelExt2Mount: ReferenceMount {
  let path: String
  let name = "kernel ext2"
  /// The temporary directory holding the image.
  private let scratch: String
  private var unmounted = false

  init(options: [String] = []) throws {
    scratch = try makeTempDir("kext2img")
    do {
      let image = try makeExt2Image(in: scratch, name: "kernel.img")
      path = try makeTempDir("kext2")
      let r = runCommand(
        "mount", ["-o", (["loop"] + options).joined(separator: ","), "-t", "ext2", image, path],
        timeout: 30)
      guard r.ok else {
        rmdir(path)
        throw SupportError("mount -o loop -t ext2 failed: \(r.stderr)")
      }
    } catch {
      try? FileManager.default.removeItem(atPath: scratch)
      unmounted = true
      throw error
    }
  }

  func unmount() {
    if unmounted { return }
    unmounted = true
    if MountInfo.at(path) != nil, !runCommand("umount", [path], timeout: 30).ok {
      // A lazy unmount still frees the loop device once the last user is gone.
      runCommand("umount", ["-l", path], timeout: 30)
    }
    rmdir(path)
    try? FileManager.default.removeItem(atPath: scratch)
  }

  deinit { unmount() }
}

/// A fresh image for the vfsmount side of an ext2 run, removed by `remove()`.
final class Ext2ScratchImage {
  /// The image file.
  let image: String
  private let scratch: String

  init() throws {
    scratch = try makeTempDir("vext2img")
    do {
      image = try makeExt2Image(in: scratch, name: "vfsmount.img")
    } catch {
      try? FileManager.default.removeItem(atPath: scratch)
      throw error
    }
  }

  /// Deletes the image and its directory (after the mount is gone).
  func remove() { try? FileManager.default.removeItem(atPath: scratch) }

  deinit { remove() }
}

/// Tmpfs options the kernel's ext2 also takes, so a test that sets only these still runs on ext2.
let ext2CompatibleReferenceOptions: Set<String> = [
  "ro", "nodev", "relatime", "noatime", "strictatime", "nodiratime",
]

/// Skips a test under SWIFTVFS_FS=ext2, for a difference that is there by design.
func skipOnExt2(_ why: String) throws {
  if testsOnExt2 { throw XCTSkip("not on ext2: \(why)") }
}
