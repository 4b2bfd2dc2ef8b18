//! gRPC health checking and server reflection on both daemons, with
//! generic clients (Debian 12 packages neither grpcurl nor
//! grpc_health_probe): the reflection client lists the services and
//! fetches truetime.v1's file descriptor, as grpcurl does; the health
//! client checks "" and the service, as grpc_health_probe does.

mod ops_common;

use ops_common::{master_config, slave_config, start_slave, tcp_channel, unix_channel, Daemon};
use prost::Message;
use std::time::Duration;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha;
use tt_tests::procs::{bin, free_port, TempDir};
use tt_tests::stack::Client;

async fn reflect(channel: Channel, request: MessageRequest) -> MessageResponse {
    let mut client = ServerReflectionClient::new(channel);
    let outbound = tonic::Request::new(one(ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    }));
    let mut answers = client
        .server_reflection_info(outbound)
        .await
        .expect("reflection answers")
        .into_inner();
    answers
        .message()
        .await
        .expect("a reflection answer")
        .expect("one answer")
        .message_response
        .expect("with a response")
}

/// A stream of one request.
fn one<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(std::iter::once(item))
}

/// Lists the services and checks truetime.v1's descriptor: package, the
/// TrueTime service and its Now and Status methods with their types.
async fn check_reflection(channel: Channel) {
    let MessageResponse::ListServicesResponse(list) =
        reflect(channel.clone(), MessageRequest::ListServices(String::new())).await
    else {
        panic!("ListServices answered something else");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for wanted in [
        "truetime.v1.TrueTime",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(names.contains(&wanted), "{wanted} not listed: {names:?}");
    }

    let MessageResponse::FileDescriptorResponse(files) = reflect(
        channel.clone(),
        MessageRequest::FileContainingSymbol("truetime.v1.TrueTime".to_string()),
    )
    .await
    else {
        panic!("FileContainingSymbol answered something else");
    };
    let file = files
        .file_descriptor_proto
        .iter()
        .map(|bytes| prost_types::FileDescriptorProto::decode(bytes.as_slice()).unwrap())
        .find(|file| file.package() == "truetime.v1")
        .expect("truetime.v1's file is among the answer");
    let service = file
        .service
        .iter()
        .find(|s| s.name() == "TrueTime")
        .expect("the file declares TrueTime");
    for (method, input, output) in [
        ("Now", ".truetime.v1.NowRequest", ".truetime.v1.NowResponse"),
        (
            "Status",
            ".truetime.v1.StatusRequest",
            ".truetime.v1.StatusResponse",
        ),
    ] {
        let found = service
            .method
            .iter()
            .find(|m| m.name() == method)
            .unwrap_or_else(|| panic!("TrueTime has no {method}"));
        assert_eq!(found.input_type(), input);
        assert_eq!(found.output_type(), output);
    }

    // The older v1alpha protocol lists the same services.
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let outbound = tonic::Request::new(one(v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    }));
    let answer = alpha
        .server_reflection_info(outbound)
        .await
        .expect("v1alpha answers")
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("v1alpha ListServices answered something else");
    };
    assert!(list
        .service
        .iter()
        .any(|s| s.name == "truetime.v1.TrueTime"));
}

async fn check_health(channel: Channel, expected: ServingStatus) {
    let mut health = HealthClient::new(channel);
    for service in ["", "truetime.v1.TrueTime"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .expect("Check answers")
            .into_inner();
        assert_eq!(answer.status, expected as i32, "{service:?}");
    }
}

/// A master and a slave with no time to give: both reflect, both are
/// NOT_SERVING, on TCP and on the slave's socket.
#[test]
fn both_daemons_reflect_and_report_health() {
    let dir = TempDir::new("grpc");
    let master_address = format!("127.0.0.1:{}", free_port());
    let nobody = format!("127.0.0.1:{}", free_port());
    let master_file = dir.path().join("master.toml");
    std::fs::write(
        &master_file,
        master_config(&master_address, "", &nobody, ""),
    )
    .unwrap();
    let master = Daemon::start(
        "master",
        &bin("timemaster"),
        &["--config", master_file.to_str().unwrap()],
        &[],
        dir.path(),
    );
    let socket = dir.path().join("slave.sock");
    let slave_address = format!("127.0.0.1:{}", free_port());
    let slave = start_slave(
        dir.path(),
        &slave_config(
            &[&master_address],
            &slave_address,
            socket.to_str().unwrap(),
            "",
        ),
        &[],
    );
    for (address, daemon) in [(&master_address, &master), (&slave_address, &slave)] {
        assert!(
            Client::connect(&format!("http://{address}"), Duration::from_secs(20)).is_some(),
            "{address} never answered: {}",
            daemon.log()
        );
    }
    assert!(Client::connect(
        &format!("unix:{}", socket.display()),
        Duration::from_secs(5)
    )
    .is_some());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for channel in [
            tcp_channel(&master_address).await.unwrap(),
            tcp_channel(&slave_address).await.unwrap(),
            unix_channel(&socket).await.unwrap(),
        ] {
            check_reflection(channel.clone()).await;
            check_health(channel, ServingStatus::NotServing).await;
        }
    });
}
