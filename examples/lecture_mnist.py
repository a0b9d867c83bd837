"""The lecture slide's program, unchanged but for the imports (``import deepdescent as
keras``). It feeds raw 0-255 pixels, as the slide does, to a 784-32-10 sigmoid network
trained by minibatch SGD on Fashion-MNIST."""

import deepdescent as keras
from deepdescent.datasets import fashion_mnist as mnist
from deepdescent.layers import Dense
from deepdescent.models import Sequential

(x_train, y_train), (x_test, y_test) = mnist.load_data()
num_classes = 10
image_vector_size = 28 * 28
x_train = x_train.reshape(x_train.shape[0], image_vector_size)
x_test = x_test.reshape(x_test.shape[0], image_vector_size)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)
image_size = 784
model = Sequential()
model.add(Dense(units=32, activation="sigmoid", input_shape=(image_size,)))
model.add(Dense(units=num_classes, activation="softmax"))
model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit(
    x_train, y_train, batch_size=128, epochs=10, verbose=False, validation_split=0.1
)
loss, accuracy = model.evaluate(x_test, y_test, verbose=False)

if __name__ == "__main__":
    print(f"Test loss: {loss:.4f}, test accuracy: {accuracy:.4f}")
