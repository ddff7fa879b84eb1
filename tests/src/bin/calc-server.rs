//! Serves the `calc` test service on stdin and stdout: `calc-server` with the blocking
//! runtime, `calc-server tokio` with the async flavour (which serves plain calls only).

use wirecall_adapters::host::{serve_link, Link, ServeOptions};
use wirecall_tests::calc::{calc, Calc};

fn main() -> std::io::Result<()> {
    let options = ServeOptions::default();
    if std::env::args().nth(1).as_deref() == Some("tokio") {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let stdio = tokio::io::join(tokio::io::stdin(), tokio::io::stdout());
            wirecall_adapters::host::tokio::serve(stdio, calc::serve(Calc::default()), options)
                .await;
        });
    } else {
        serve_link(Link::stdio(), calc::serve(Calc::default()), options);
    }
    Ok(())
}
