import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { networkOf, overlaps, preferredSlot, routedCidrs, slotConflicts, slotCount } from "../../../local/network";

describe("the node's network plan", () => {
  test("a slot's ranges: link, pods, Services (kube-dns at the tenth address), fake pods", () => {
    const n = networkOf(7);
    assert.equal(n.netns, "mooring-7");
    assert.equal(n.hostAddress, "10.222.7.1");
    assert.equal(n.nodeIp, "10.222.7.2");
    assert.equal(n.podCidr, "10.223.7.0/24");
    assert.equal(n.serviceCidr, "10.224.7.0/24");
    assert.equal(n.serviceIp, "10.224.7.1");
    assert.equal(n.dnsIp, "10.224.7.10");
    assert.ok(n.hostInterface.length <= 15, "interface names fit IFNAMSIZ");
    assert.ok(`${networkOf(slotCount - 1).hostInterface}n`.length <= 15);
  });

  test("slots never share a range", () => {
    const a = networkOf(3);
    const b = networkOf(4);
    for (const x of [a.linkCidr, a.podCidr, a.serviceCidr]) for (const y of [b.linkCidr, b.podCidr, b.serviceCidr]) assert.equal(overlaps(x, y), false, `${x} vs ${y}`);
  });

  test("slots out of range are refused", () => {
    assert.throws(() => networkOf(slotCount), /network slot must be/);
    assert.throws(() => networkOf(-1), /network slot must be/);
  });

  test("the preferred slot is stable per directory", () => {
    assert.equal(preferredSlot("/tmp/a"), preferredSlot("/tmp/a"));
    assert.ok(preferredSlot("/tmp/a") < slotCount);
  });

  test("routes the machine has make a slot unusable; default routes do not", () => {
    const routes = routedCidrs(
      [
        "default via 192.0.2.1 dev eth0",
        "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2",
        "10.223.5.0/24 via 10.222.5.2 dev mooring5",
        "local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1",
        "10.224.0.0/16 dev vpn0",
      ].join("\n"),
    );
    assert.deepEqual(routes, ["192.0.2.0/24", "10.223.5.0/24", "127.0.0.1/32", "10.224.0.0/16"]);
    assert.deepEqual(slotConflicts(networkOf(5), routes), ["10.223.5.0/24", "10.224.0.0/16"]);
    assert.deepEqual(slotConflicts(networkOf(6), ["192.0.2.0/24", "127.0.0.1/32"]), []);
  });
});
