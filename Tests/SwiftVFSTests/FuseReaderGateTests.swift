import Foundation
import Synchronization
import XCTest

@testable import SwiftVFSFuse

/// The read/write transport's gate: when it lets one reader serve a lone
/// client, and that parked readers always come back.
final class FuseReaderGateTests: XCTestCase {
  private func now() -> UInt64 { FuseBridge.monotonicNanos() }

  func testTurnsHotAfterARunOfOneProcessOnly() {
    let gate = FuseReaderGate()
    for _ in 0..<FuseReaderGate.hotRun {
      gate.note(pid: 100, now: now())
    }
    XCTAssertFalse(gate.isHot, "the first request of the run counts as none")
    gate.note(pid: 100, now: now())
    XCTAssertTrue(gate.isHot)
  }

  func testAnotherProcessTurnsItColdAndStartsAgain() {
    let gate = FuseReaderGate()
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    XCTAssertTrue(gate.isHot)
    gate.note(pid: 200, now: now())
    XCTAssertFalse(gate.isHot)
    // Two clients taking turns never turn it hot.
    for i in 0..<(4 * FuseReaderGate.hotRun) { gate.note(pid: i % 2 == 0 ? 100 : 200, now: now()) }
    XCTAssertFalse(gate.isHot)
  }

  func testRequestsWithoutAProcessDoNotCount() {
    let gate = FuseReaderGate()
    for _ in 0...FuseReaderGate.hotRun {
      gate.note(pid: 100, now: now())
      gate.note(pid: 0, now: now())  // a FORGET between the client's requests
    }
    XCTAssertTrue(gate.isHot)
  }

  func testParkingReturnsAtOnceWhenCold() {
    let gate = FuseReaderGate()
    let stopping = Flag(false)
    gate.parkWhileHot(stopping: stopping.value)  // must not sleep: nothing to wait for
    XCTAssertFalse(gate.isHot)
  }

  func testAParkedReaderComesBackWhenTheClientGoesQuiet() {
    let gate = FuseReaderGate()
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    XCTAssertTrue(gate.isHot)
    let stopping = Flag(false)
    let before = now()
    gate.parkWhileHot(stopping: stopping.value)
    XCTAssertFalse(gate.isHot)
    XCTAssertGreaterThan(now() - before, FuseReaderGate.parkNanos, "it waited for the quiet")
  }

  func testAParkedReaderComesBackWhenTheLeadIsHeldUp() {
    let gate = FuseReaderGate()
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    gate.leadBusy(since: now())
    // The client keeps the gate from going quiet; only the lead's long
    // request can send the parked reader back.
    let feeding = Flag(true)
    let feeder = Thread {
      while feeding.value.load(ordering: .relaxed) {
        gate.note(pid: 100, now: FuseBridge.monotonicNanos())
        usleep(200)
      }
    }
    feeder.start()
    let stopping = Flag(false)
    gate.parkWhileHot(stopping: stopping.value)
    feeding.value.store(false, ordering: .relaxed)
    XCTAssertFalse(gate.isHot)
    // While the lead is still held up, the run does not turn it hot again.
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    XCTAssertFalse(gate.isHot)
    gate.leadBusy(since: 0)
    gate.note(pid: 100, now: now())
    XCTAssertTrue(gate.isHot)
  }

  func testASecondClientWakesAParkedReader() {
    let gate = FuseReaderGate()
    let stopping = Flag(false)
    let done = expectation(description: "the parked reader returned")
    // Requests every 0.2 ms keep the gate from going quiet: one client's,
    // then two clients' in turn, which never make it hot again.
    let feeding = Flag(true)
    let twoClients = Flag(false)
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    XCTAssertTrue(gate.isHot)
    let feeder = Thread {
      var turn: UInt32 = 0
      while feeding.value.load(ordering: .relaxed) {
        turn += 1
        let pid: UInt32 = twoClients.value.load(ordering: .relaxed) && turn % 2 == 0 ? 200 : 100
        gate.note(pid: pid, now: FuseBridge.monotonicNanos())
        usleep(200)
      }
    }
    feeder.start()
    let parked = Thread {
      gate.parkWhileHot(stopping: stopping.value)
      done.fulfill()
    }
    parked.start()
    usleep(20_000)
    twoClients.value.store(true, ordering: .relaxed)
    wait(for: [done], timeout: 60)
    XCTAssertFalse(gate.isHot)
    feeding.value.store(false, ordering: .relaxed)
  }

  func testStoppingWakesAParkedReader() {
    let gate = FuseReaderGate()
    let stopping = Flag(false)
    let feeding = Flag(true)
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    let feeder = Thread {
      while feeding.value.load(ordering: .relaxed) {
        gate.note(pid: 100, now: FuseBridge.monotonicNanos())
        usleep(200)
      }
    }
    feeder.start()
    let done = expectation(description: "the parked reader returned")
    let parked = Thread {
      gate.parkWhileHot(stopping: stopping.value)
      done.fulfill()
    }
    parked.start()
    usleep(20_000)
    stopping.value.store(true, ordering: .releasing)
    gate.turnCold()
    wait(for: [done], timeout: 60)
    feeding.value.store(false, ordering: .relaxed)
  }
}

/// An atomic flag that threads' closures can share.
private final class Flag: Sendable {
  let value: Atomic<Bool>
  init(_ initial: Bool) { value = Atomic(initial) }
}
