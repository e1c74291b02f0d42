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

/// The kernel's ext2 on `image` through a loop device (`mount -o
/// loop[,options] -t ext2 IMAGE <new temp dir>`; this kernel serves `-t
/// ext2` with the ext4 driver). `unmount()` undoes it, lazily if the mount
/// is busy; mount sets autoclear, so the loop device goes with its last user.
final class KernelLoopMount {
  let path: String
  private var mounted = true

  init(image: String, options: [String] = []) throws {
    path = try makeTempDir("kext2")
    let r = runCommand(
      "mount", ["-o", (["loop"] + options).joined(separator: ","), "-t", "ext2", image, path],
      timeout: 30)
    guard r.ok else {
      rmdir(path)
      mounted = false
      throw SupportError("mount -o loop -t ext2 failed: \(r.stderr)")
    }
  }

  /// Unmounts and removes the mount point; safe to call more than once.
  func unmount() {
    guard mounted else { return }
    mounted = false
    if MountInfo.at(path) != nil, !runCommand("umount", [path], timeout: 30).ok {
      runCommand("umount", ["-l", path], timeout: 30)
    }
    rmdir(path)
  }

  deinit { unmount() }
}

/// The kernel's ext2 on a fresh image of its own, the reference side of an
/// ext2 run. Unmounting also removes the image.
final class KernelExt2Mount: ReferenceMount {
  var path: String { loop.path }
  let name = "kernel ext2"
  /// The temporary directory holding the image.
  private let scratch: String
  private let loop: KernelLoopMount
  private var unmounted = false

  init(options: [String] = []) throws {
    scratch = try makeTempDir("kext2img")
    do {
      loop = try KernelLoopMount(
        image: try makeExt2Image(in: scratch, name: "kernel.img"), options: options)
    } catch {
      try? FileManager.default.removeItem(atPath: scratch)
      throw error
    }
  }

  func unmount() {
    if unmounted { return }
    unmounted = true
    loop.unmount()
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
