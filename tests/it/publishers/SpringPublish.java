// Publishes queue messages with the official RabbitMQ Java client and exactly the AMQP
// properties Spring AMQP's converters set, as WHALE (a Java system) sends them.
//
// Usage: java SpringPublish <amqp-uri> <queue> (<simple|jackson> <message-id> <body-file>)...
//   simple  - SimpleMessageConverter with a String payload: text/plain, contentEncoding UTF-8
//   jackson - Jackson2JsonMessageConverter with a DTO: application/json, contentEncoding
//             UTF-8 and the __TypeId__ header naming the DTO class
// Both: deliveryMode 2 (PERSISTENT, Spring's default) and priority 0 (MessageProperties'
// default, always written by Spring's properties converter). Each publish is confirmed.

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;

public class SpringPublish {
    public static void main(String[] args) throws Exception {
        if (args.length < 5 || (args.length - 2) % 3 != 0) {
            throw new IllegalArgumentException(
                "usage: SpringPublish <uri> <queue> (<simple|jackson> <id> <body-file>)...");
        }
        ConnectionFactory factory = new ConnectionFactory();
        factory.setUri(args[0]);
        String queue = args[1];
        try (Connection connection = factory.newConnection("it SpringPublish " + queue);
             Channel channel = connection.createChannel()) {
            channel.confirmSelect();
            for (int i = 2; i < args.length; i += 3) {
                // Spring turns a String payload into bytes with its default charset, UTF-8.
                String json = new String(Files.readAllBytes(Paths.get(args[i + 2])),
                    StandardCharsets.UTF_8);
                AMQP.BasicProperties props = properties(args[i], args[i + 1]);
                channel.basicPublish("", queue, props, json.getBytes(StandardCharsets.UTF_8));
            }
            channel.waitForConfirmsOrDie(10_000);
        }
    }

    static AMQP.BasicProperties properties(String converter, String id) {
        AMQP.BasicProperties.Builder props = new AMQP.BasicProperties.Builder()
            .messageId(id)
            .deliveryMode(2)
            .priority(0)
            .contentEncoding("UTF-8");
        switch (converter) {
            case "simple":
                return props.contentType("text/plain").build();
            case "jackson":
                Map<String, Object> headers = new HashMap<>();
                headers.put("__TypeId__", "com.whale.core.BrandNotifyDTO");
                return props.contentType("application/json").headers(headers).build();
            default:
                throw new IllegalArgumentException("unknown converter " + converter);
        }
    }
}
