//! smoltcp glue: one Ethernet interface with a static IPv4 address and one
//! UDP socket, offered to the runtime as [`Datagrams`].
//!
//! The board supplies a [`smoltcp::phy::Device`] (its Ethernet driver) and
//! the memory: socket buffers in a [`UdpBuffers`] and one socket slot, both
//! typically locals of `main` that live forever. No allocator is used.

use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet, SocketStorage,
};
use smoltcp::phy::Device;
use smoltcp::socket::udp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};

use crate::provision::NetConfig;
use crate::runtime::{Datagrams, Endpoint, SendError};
use booth_core::Instant;

/// Datagrams each socket buffer holds at most.
pub const PACKET_SLOTS: usize = 8;

/// Receive and send buffers of the UDP socket, `BYTES` each. booth peer
/// messages are 152 bytes with authentication (124 without), so 1 KiB holds
/// six of them in each direction.
#[derive(Debug)]
pub struct UdpBuffers<const BYTES: usize> {
    rx_meta: [udp::PacketMetadata; PACKET_SLOTS],
    rx: [u8; BYTES],
    tx_meta: [udp::PacketMetadata; PACKET_SLOTS],
    tx: [u8; BYTES],
}

impl<const BYTES: usize> UdpBuffers<BYTES> {
    pub const fn new() -> Self {
        UdpBuffers {
            rx_meta: [udp::PacketMetadata::EMPTY; PACKET_SLOTS],
            rx: [0; BYTES],
            tx_meta: [udp::PacketMetadata::EMPTY; PACKET_SLOTS],
            tx: [0; BYTES],
        }
    }
}

impl<const BYTES: usize> Default for UdpBuffers<BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

/// The interface, its device and its one socket.
pub struct Net<'a, D: Device> {
    iface: Interface,
    device: D,
    sockets: SocketSet<'a>,
    udp: SocketHandle,
    /// Time of the last poll (smoltcp needs one to flush from `send`).
    now: SmolInstant,
}

impl<D: Device> core::fmt::Debug for Net<'_, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Net")
            .field("udp", &self.udp)
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

/// The smoltcp time of a core instant.
pub fn smol_instant(t: Instant) -> SmolInstant {
    SmolInstant::from_millis(t.as_millis() as i64)
}

impl<'a, D: Device> Net<'a, D> {
    /// Brings the interface up on `device` with `cfg`'s address and route
    /// and binds the UDP socket to `cfg.port`.
    pub fn new<const BYTES: usize>(
        mut device: D,
        mac: [u8; 6],
        cfg: &NetConfig,
        seed: u64,
        now: Instant,
        buffers: &'a mut UdpBuffers<BYTES>,
        slots: &'a mut [SocketStorage<'a>; 1],
    ) -> Self {
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = seed;
        let now = smol_instant(now);
        let mut iface = Interface::new(config, &mut device, now);
        let [a, b, c, d] = cfg.ip;
        iface.update_ip_addrs(|addrs| {
            // The list has room for at least one address.
            let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), cfg.prefix_len));
        });
        if let Some([a, b, c, d]) = cfg.gateway {
            if iface
                .routes_mut()
                .add_default_ipv4_route(Ipv4Address::new(a, b, c, d))
                .is_err()
            {
                warn!("route table full: no default route");
            }
        }
        let UdpBuffers {
            rx_meta,
            rx,
            tx_meta,
            tx,
        } = buffers;
        let mut socket = udp::Socket::new(
            udp::PacketBuffer::new(&mut rx_meta[..], &mut rx[..]),
            udp::PacketBuffer::new(&mut tx_meta[..], &mut tx[..]),
        );
        if socket.bind(cfg.port).is_err() {
            warn!("cannot bind UDP port {}", cfg.port);
        }
        let mut sockets = SocketSet::new(&mut slots[..]);
        let udp = sockets.add(socket);
        Net {
            iface,
            device,
            sockets,
            udp,
            now,
        }
    }

    /// Takes at most one frame from the device into the socket; false if
    /// the device had none. Handle the socket's datagrams before the next
    /// one, so a burst waits in the device rather than overflowing the socket.
    pub fn ingress_one(&mut self, now: Instant) -> bool {
        self.now = smol_instant(now);
        self.iface.poll_maintenance(self.now);
        !matches!(
            self.iface
                .poll_ingress_single(self.now, &mut self.device, &mut self.sockets),
            PollIngressSingleResult::None
        )
    }

    /// Sends what the socket holds (and ARP) to the device.
    pub fn egress(&mut self, now: Instant) {
        self.now = smol_instant(now);
        self.flush();
    }

    fn flush(&mut self) {
        self.iface
            .poll_egress(self.now, &mut self.device, &mut self.sockets);
    }

    /// Moves frames between the device and the socket, both ways, all of them.
    pub fn poll(&mut self, now: Instant) {
        self.now = smol_instant(now);
        self.iface
            .poll(self.now, &mut self.device, &mut self.sockets);
    }

    /// When smoltcp needs a poll again without new frames (ARP retries),
    /// or `None` if only a frame can give it work.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.iface
            .poll_at(smol_instant(now), &self.sockets)
            .map(|t| Instant(t.total_millis().max(0) as u64))
    }

    /// Datagrams waiting in the socket.
    pub fn can_recv(&mut self) -> bool {
        self.sockets.get_mut::<udp::Socket>(self.udp).can_recv()
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.device
    }
}

impl<D: Device> Datagrams for Net<'_, D> {
    fn recv(&mut self, buf: &mut [u8]) -> Option<(usize, Endpoint)> {
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        loop {
            match socket.recv_slice(buf) {
                Ok((len, meta)) => {
                    let IpAddress::Ipv4(ip) = meta.endpoint.addr;
                    return Some((
                        len,
                        Endpoint {
                            ip: ip.octets(),
                            port: meta.endpoint.port,
                        },
                    ));
                }
                // Longer than any booth datagram: dropped, try the next one.
                Err(udp::RecvError::Truncated) => continue,
                Err(udp::RecvError::Exhausted) => return None,
            }
        }
    }

    /// Queues the datagram; when the socket is full, first pushes what it
    /// holds to the device (a frame cannot leave before ARP resolves the
    /// next hop: then the runtime retries later).
    fn send(&mut self, to: Endpoint, data: &[u8]) -> Result<(), SendError> {
        let [a, b, c, d] = to.ip;
        let endpoint = IpEndpoint::new(IpAddress::v4(a, b, c, d), to.port);
        for attempt in 0..2 {
            let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
            if socket.send_slice(data, endpoint).is_ok() {
                return Ok(());
            }
            if attempt == 0 {
                self.flush();
            }
        }
        Err(SendError)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use smoltcp::phy::{DeviceCapabilities, Medium, RxToken, TxToken};
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::vec::Vec;

    type Wire = Rc<RefCell<VecDeque<Vec<u8>>>>;

    /// One end of an Ethernet cable: sends into `out`, receives from `inp`.
    struct Cable {
        inp: Wire,
        out: Wire,
    }

    struct Rx(Vec<u8>);
    struct Tx(Wire);

    impl RxToken for Rx {
        fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
            f(&self.0)
        }
    }

    impl TxToken for Tx {
        fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
            let mut frame = std::vec![0u8; len];
            let r = f(&mut frame);
            self.0.borrow_mut().push_back(frame);
            r
        }
    }

    impl Device for Cable {
        type RxToken<'a> = Rx;
        type TxToken<'a> = Tx;
        fn receive(&mut self, _: SmolInstant) -> Option<(Rx, Tx)> {
            let frame = self.inp.borrow_mut().pop_front()?;
            Some((Rx(frame), Tx(self.out.clone())))
        }
        fn transmit(&mut self, _: SmolInstant) -> Option<Tx> {
            Some(Tx(self.out.clone()))
        }
        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = 1514;
            caps
        }
    }

    fn cfg(last: u8) -> NetConfig {
        NetConfig {
            ip: [192, 0, 2, last],
            prefix_len: 24,
            gateway: None,
            port: 9929,
        }
    }

    /// Two interfaces on one cable: ARP, then datagrams both ways through
    /// the `Datagrams` trait, with the sender's address as seen on the wire.
    #[test]
    fn datagrams_cross_a_cable_both_ways() {
        let (ab, ba): (Wire, Wire) = Default::default();
        let dev_a = Cable {
            inp: ba.clone(),
            out: ab.clone(),
        };
        let dev_b = Cable { inp: ab, out: ba };
        let (mut buf_a, mut buf_b) = (UdpBuffers::<1024>::new(), UdpBuffers::<1024>::new());
        let (mut slots_a, mut slots_b) = ([SocketStorage::EMPTY], [SocketStorage::EMPTY]);
        let t0 = Instant(1_000);
        let mut a = Net::new(
            dev_a,
            [2, 0, 0, 0, 0, 1],
            &cfg(1),
            1,
            t0,
            &mut buf_a,
            &mut slots_a,
        );
        let mut b = Net::new(
            dev_b,
            [2, 0, 0, 0, 0, 2],
            &cfg(2),
            2,
            t0,
            &mut buf_b,
            &mut slots_b,
        );

        let to_b = Endpoint {
            ip: [192, 0, 2, 2],
            port: 9929,
        };
        a.send(to_b, b"hello").unwrap();
        let mut got = [0u8; 64];
        let mut t = t0;
        let mut received = None;
        for _ in 0..10 {
            a.poll(t);
            b.poll(t);
            if let Some(r) = b.recv(&mut got) {
                received = Some(r);
                break;
            }
            t = t + booth_core::Duration(10);
        }
        let (len, from) = received.expect("the datagram never arrived");
        assert_eq!(&got[..len], b"hello");
        assert_eq!(
            from,
            Endpoint {
                ip: [192, 0, 2, 1],
                port: 9929
            }
        );

        b.send(from, b"world").unwrap();
        b.poll(t);
        a.poll(t);
        assert!(a.can_recv());
        let (len, from) = a.recv(&mut got).unwrap();
        assert_eq!((&got[..len], from), (&b"world"[..], to_b));
        assert!(a.recv(&mut got).is_none());
    }
}
