//! The write side's relay: started while the broker is down, it creates its topic once the
//! broker is up (brokers do not create topics on first use) and publishes what was committed
//! meanwhile. The relay's own mechanics are tested in crates/outbox-relay.

use command_kit::{RelaySettings, WriteSide};
use service_kit::settings::KafkaSettings;
use test_support::PrivateBroker;
use test_support::fixture::{counter_bus, open_counters};
use test_support::store::restart_and_drain;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn a_write_side_started_while_the_broker_is_down_creates_its_topic_and_relays_once_it_is_up()
{
    let broker = PrivateBroker::start().await;
    broker.kill();
    let database = test_support::fresh_database().await;
    let topic = format!("counters.events.{}", uuid::Uuid::new_v4().simple());
    let relay = RelaySettings {
        sweep_interval_ms: 500,
        ..RelaySettings::default()
    };
    let cancel = CancellationToken::new();
    let write = WriteSide::start(
        &database,
        &KafkaSettings::plaintext(broker.brokers()),
        &relay,
        &topic,
        &cancel,
    )
    .await
    .expect("the write side starts, with or without its broker");
    open_counters(&counter_bus(&write.pool, &topic), 3, 1, 3).await;
    let seen = restart_and_drain(&broker, &write.pool, &topic).await;
    assert_eq!(seen.len(), 6);
    cancel.cancel();
    for task in write.background {
        task.task
            .await
            .expect("joined")
            .expect("the relay stopped cleanly");
    }
}
