//! Netduino Plus 2 (STM32F405RG, Cortex-M4F) as a [`convbert_app::Board`], written with the
//! chip's HAL: the console is the real USART1 (PA9 TX, PA10 RX, 115200 8N1), the counter is
//! SysTick on the core clock, log lines go to defmt over RTT.
//!
//! The core runs on the reset clock, HSI at 16 MHz: the HAL's clock set-up with no PLL and no
//! HSE polls no ready flag, so the very same ELF also runs on QEMU's `netduinoplus2` machine,
//! whose QEMU 7.2 model has no RCC (a PLL-ready poll would spin there forever). On hardware the
//! third field of a demo line is then core cycles at 16 MHz; under QEMU, ticks of its 168 MHz
//! SysTick (see `instructions`).
#![no_std]

use convbert_app::{Board, Out};
use core::fmt::Write;
use cortex_m::peripheral::DCB;
use defmt_rtt as _;
use panic_probe as _;
use stm32f4xx_hal::pac::USART1;
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Config;
use stm32f4xx_hal::serial::Serial;

// The blob in flash (blob.x places `.blob`); the arena in SRAM.
convbert_app::model_statics!(".blob");

/// The console's speed.
const BAUD: u32 = 115_200;

/// The board: USART1 and the counter.
pub struct Netduino {
    serial: Serial<USART1>,
    counter: cortex_m_counter::Counter,
}

impl Netduino {
    /// Sets up the clocks (HSI, 16 MHz), USART1 and SysTick, and hands out the arena. Call once
    /// (a second call panics).
    pub fn take() -> (Self, &'static mut [u8]) {
        let (Some(core), Some(chip)) = (cortex_m::Peripherals::take(), stm32f4xx_hal::pac::Peripherals::take()) else {
            panic!("Netduino::take called twice")
        };
        let mut rcc = chip.RCC.freeze(Config::hsi());
        let gpioa = chip.GPIOA.split(&mut rcc);
        let Ok(serial) = chip.USART1.serial((gpioa.pa9, gpioa.pa10), BAUD.bps(), &mut rcc) else {
            panic!("USART1: {} baud is not reachable from the HSI clock", BAUD)
        };
        // One tick per core cycle (the counter reports ticks as they are).
        let counter = cortex_m_counter::Counter::start(core.SYST, (1, 1));
        defmt::info!("netduinoplus2: HSI 16 MHz, USART1 at {=u32} baud", BAUD);
        // SAFETY: `Peripherals::take` succeeded, so this runs once: the only reference to ARENA.
        let arena = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
        (Self { serial, counter }, arena)
    }
}

impl Board for Netduino {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            // The UART only fails on receive errors; sending waits for room and cannot fail.
            let _ = nb::block!(self.serial.write(b));
        }
    }

    fn read_byte(&mut self) -> Option<u8> {
        loop {
            // A framing, noise or overrun error loses that byte; keep listening.
            if let Ok(b) = nb::block!(self.serial.read()) {
                return Some(b);
            }
        }
    }

    /// SysTick ticks of the core clock: cycles at 16 MHz on hardware. Under QEMU (`-icount
    /// shift=0`, 1 ns per instruction) the model's SysTick runs at 168 MHz whatever RCC says, so
    /// instructions = ticks * 1000 / 168 there.
    fn instructions(&mut self) -> u64 {
        self.counter.instructions()
    }

    fn exit(&mut self, code: i32) -> ! {
        defmt::info!("exit {=i32}", code);
        // Tell whoever reads the UART (a terminal, or the QEMU test) that the program ended.
        let _ = writeln!(Out(self), "exit {code}");
        if DCB::is_debugger_attached() {
            // `probe-rs run` ends on the breakpoint.
            cortex_m::asm::bkpt();
        }
        loop {
            cortex_m::asm::wfi();
        }
    }
}
