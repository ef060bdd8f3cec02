//! Embedded mode in ten lines: an axum service that serves its own metrics at
//! http://127.0.0.1:9464/metrics with no collector (`vigil::serve`, SDK feature `serve`).
//! Try it: `cargo run -p examples --example embedded`, then `curl 127.0.0.1:8080/` and
//! `curl 127.0.0.1:9464/metrics`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let serving = vigil::serve("127.0.0.1:9464")?; // /, /metrics, /api/v1/snapshot, /healthz
    let hits = vigil::init::meter()
        .u64_counter("shop.hits")
        .with_description("Pages served.")
        .build();
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            hits.add(1, &[]);
            "hello\n"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    serving.shutdown()?;
    Ok(())
}
