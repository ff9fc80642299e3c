//! Placeholder while snapshot/ and emulator/ land on their branches; the real main (see git
//! history, `cli::run`) comes back with them.
fn main() {
    eprintln!("entrasync: being assembled");
    std::process::exit(1);
}
